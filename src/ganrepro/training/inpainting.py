"""Training of the inpainting GAN (models.inpainting): the paper's simultaneous update, on
completions of training images under masks drawn per example from the family.

Per step: masks m and noise z for a batch x; G completes x_hat = m x + (1 - m) G(z, m x, m); D runs
once on the real pairs (x, m) and the completed ones (x_hat, m); one backward pass gives D's update
and, at x_hat, the gradient that (D being piecewise linear up to its logit) rescales into G's
gradient (`training.objective`, as for the unconditional model; docs/training.md). Validation checks are the
caller's (`validate`): the metrics live in the evaluation layer, which also owns the classifier.

Runs resume from checkpoint.pt in the output folder (written after every epoch; on the CPU a resumed
run ends bit for bit where an uninterrupted one would), and model.pt holds the generator that
cfg.select chooses: the best validation check's or the last epoch's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganrepro.arrays import data_digest
from ganrepro.data.prepared import load_split, read_meta
from ganrepro.device import resolve_device
from ganrepro.errors import UserError
from ganrepro.gan_config import TrainConfig
from ganrepro.io import save_torch, write_json, write_text
from ganrepro.models.artifacts import cpu_state_dict
from ganrepro.models.inpainting import InpaintingGenerator, build_inpainting_models, draw_masks, save_inpainter
from ganrepro.models.networks import sample_noise
from ganrepro.training import checkpoint
from ganrepro.training.objective import METRIC_NAMES, d_logit_grad, g_grad_ratio, metrics
from ganrepro.training.optimizers import make_optimizer

log = logging.getLogger(__name__)

# validate(G, epoch): the check's scores, SELECT_METRIC among them
Validate = Callable[[InpaintingGenerator, int], dict[str, float]]


class InpaintingGAN:
    """G, D, their optimizers and one simultaneous update."""

    def __init__(
        self, cfg: TrainConfig, example_shape: list[int], pixel_means: torch.Tensor, device: torch.device
    ) -> None:
        self.cfg, self.example_shape, self.device = cfg, example_shape, device
        G, D = build_inpainting_models(cfg, int(np.prod(example_shape)), pixel_means)
        self.G, self.D = G.to(device), D.to(device)
        self.opt_g = make_optimizer(list(self.G.parameters()), cfg)
        self.opt_d = make_optimizer(list(self.D.parameters()), cfg)
        self.masks = torch.Generator().manual_seed(cfg.seed)

    def step(self, x: torch.Tensor, epoch: int) -> torch.Tensor:
        """One update of D and G on the real batch x (n, d); returns (d_loss, g_loss, D(x), D(x_hat))."""
        n = len(x)
        m = draw_masks(n, self.example_shape, self.masks).to(self.device)
        x_fake = self.G(sample_noise(n, self.cfg.z_dim, self.cfg.noise, self.device), x, m)
        leaf = x_fake.detach().requires_grad_()
        logits = self.D(torch.cat([x, leaf]), torch.cat([m, m]))
        probs = torch.sigmoid(logits.detach())
        with self.opt_d.update(epoch):
            logits.backward(d_logit_grad(probs, n))
        fake = logits.detach()[n:]
        with self.opt_g.update(epoch):
            x_fake.backward(leaf.grad * g_grad_ratio(fake, self.cfg.g_loss)[:, None])
        return metrics(logits.detach(), probs, fake, n, self.cfg.g_loss)

    def state_dict(self) -> dict[str, Any]:
        """Networks, optimizers and the mask generator's state: tensors and plain containers."""
        return {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "masks": self.masks.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.masks.set_state(state["masks"])


# The inpainting GAN's checkpoint.pt: its own entries and format number (checkpoint.FORMAT is the main GAN's).
CHECKPOINT_FORMAT = 1
CHECKPOINT_KEYS = {
    "format",
    "step",
    "epoch",
    "config",
    "estimate",
    "gan",
    "rng_cpu",
    "rng_cuda",
    "losses",
    "valid_history",
    "best",
    "seconds_total",
}
# The score model selection minimises; see `train_inpainter`.
SELECT_METRIC = "mse_best"


def train_inpainter(
    cfg: TrainConfig,
    data: Path,
    out_dir: Path,
    dataset: str,
    validate: Validate | None = None,
    if_changed: str = "error",
    estimate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train for cfg.epochs epochs; before the first, every cfg.valid_every epochs and after the
    last, record `validate(G, epoch)`. Writes OUT_DIR/model.pt, train.json (losses and validation history) and
    valid_curve.csv (epoch vs validation metrics), whose contents follow from the checkpoint alone (a
    finished run invoked again rewrites them byte for byte); returns the train.json record with this
    invocation's facts added (resumed, epochs_this_run, seconds_this_run).

    Checkpoint: after every epoch (and its check), OUT_DIR/checkpoint.pt, kept at the end as the main
    trainer's is; a run resumes from it when only budget keys changed (gan_config.RESUMABLE_KEYS), and
    ends on the CPU bit for bit where an uninterrupted run would. A checkpoint made with other
    parameters, or unreadable, is an error, or with if_changed='restart' is discarded. `estimate`
    describes what the checks' scores depend on besides G and valid_points (e.g. the completions per
    image): with another one on resumption, model selection starts again.

    Model selection (cfg.select): `best_valid` keeps the generator of the check after an epoch
    with the lowest `mse_best`, the best-of-k masked-region MSE averaged over the mask kinds; `last`
    the last epoch's. `mse_best` because each check already computes it on fixed masks and noise,
    it scores the completions against the truth without the classifier's own errors, and on MNIST it
    went on falling while the accuracy on completions stayed flat within the check's noise
    (docs/inpainting.md). The check before training (epoch 0) is not a candidate. Without checks
    after an epoch the last epoch is kept, and train.json says so."""
    meta = read_meta(data)
    if meta.get("kind") != "image":
        raise UserError(f"{data}: dataset '{meta['dataset']}' has no images; inpainting needs images (C, H, W)")
    device = resolve_device(cfg.device)
    x = load_split(data, "train").reshape(meta["n_train"], -1)
    if cfg.train_limit:
        x = x[: cfg.train_limit]
    x_train = torch.from_numpy(np.ascontiguousarray(x)).to(device)
    batch = cfg.batch_size
    steps_per_epoch = len(x_train) // batch
    if steps_per_epoch == 0:
        raise UserError(f"inpaint: batch_size {batch} exceeds the {len(x_train)} training examples of {data}")
    torch.manual_seed(cfg.seed)
    gan = InpaintingGAN(cfg, meta["example_shape"], x_train.mean(0), device)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / checkpoint.NAME
    estimate = {"valid_points": cfg.valid_points, **(estimate or {})}
    digest = data_digest(x)
    state, why = checkpoint.resumable(
        ckpt_path, cfg, cfg.epochs * steps_per_epoch, if_changed, CHECKPOINT_FORMAT, CHECKPOINT_KEYS, digest
    )
    if state is None:  # a discarded run's outputs go, so that none is taken for this run's
        log.info("training from scratch: %s", why)
        for name in ("model.pt", "train.json", "valid_curve.csv"):
            (out_dir / name).unlink(missing_ok=True)
    losses: list[dict[str, float]] = []
    history: list[dict[str, float]] = []
    best: dict[str, Any] | None = None
    done, seconds_before, seconds_total = 0, 0.0, 0.0  # seconds_total: up to the last checkpoint (train.json's)
    trained_on = str(device)  # the device of the last training segment (train.json's)
    if state is not None:
        gan.load_state_dict(state["gan"])
        checkpoint.restore_rng_states(state, device)
        done, losses, history, best = state["epoch"], state["losses"], state["valid_history"], state["best"]
        seconds_before = seconds_total = state["seconds_total"]
        trained_on = state.get("device", trained_on)
        if best is not None and state["estimate"] != estimate:
            log.warning(
                "the validation estimate changed (%s -> %s): model selection starts again from this epoch "
                "(the best so far was epoch %d)",
                state["estimate"],
                estimate,
                best["epoch"],
            )
            best = None
        log.info("resuming from %s at epoch %d of %d", ckpt_path, done, cfg.epochs)
    elif validate and cfg.valid_every:  # the starting point of the curve: G's output bias is the mean image
        history.append({"epoch": 0, **validate(gan.G, 0)})
    start, start_epoch = time.perf_counter(), done
    for epoch in range(done, cfg.epochs):
        perm = torch.randperm(len(x_train), device=device)
        acc = torch.zeros(len(METRIC_NAMES), device=device)
        for i in range(steps_per_epoch):
            acc += gan.step(x_train.index_select(0, perm[i * batch : (i + 1) * batch]), epoch)
        row = dict(zip(METRIC_NAMES, (acc / steps_per_epoch).tolist()))
        if not all(np.isfinite(list(row.values()))):
            kept = f"the last good checkpoint ({ckpt_path}) is kept" if ckpt_path.exists() else "no checkpoint"
            raise UserError(f"inpaint: non-finite loss in epoch {epoch + 1} ({row}); {kept}; lower the learning rate")
        done = epoch + 1
        losses.append({"epoch": done, **row, "seconds": seconds_before + time.perf_counter() - start})
        log.info("epoch %d/%d: %s", done, cfg.epochs, ", ".join(f"{k} {v:.4f}" for k, v in row.items()))
        if validate and cfg.valid_every and (done % cfg.valid_every == 0 or done == cfg.epochs):
            history.append({"epoch": done, **validate(gan.G, done)})
            log.info("epoch %d: validation %s", done, history[-1])
            if best is None or history[-1][SELECT_METRIC] < best[SELECT_METRIC]:
                best = {**history[-1], "G": cpu_state_dict(gan.G)}
            write_text(out_dir / "valid_curve.csv", _curve_csv(history))  # the curve so far, readable while training
        seconds_total, trained_on = seconds_before + time.perf_counter() - start, str(device)
        save_torch(
            ckpt_path,
            {
                "format": CHECKPOINT_FORMAT,
                "step": done * steps_per_epoch,
                "epoch": done,
                "config": cfg.as_dict(),
                "estimate": estimate,
                "gan": gan.state_dict(),
                **checkpoint.rng_states(device),
                "losses": losses,
                "valid_history": history,
                "best": best,
                "seconds_total": seconds_total,
                "data": digest,
                "device": trained_on,
            },
        )
    selection, selected, note = _select(cfg, gan, best, history, done)
    model_meta = {
        "config": cfg.as_dict(),
        "dataset": dataset,
        "data_dim": x_train.shape[1],
        "example_shape": meta["example_shape"],
        "epochs": cfg.epochs,
        "selection": selection,
        "selected": selected,
    }
    save_inpainter(out_dir / "model.pt", gan.G, model_meta)
    record = {
        "dataset": dataset,
        "seed": cfg.seed,
        "device": trained_on,
        "epochs": cfg.epochs,
        "steps": cfg.epochs * steps_per_epoch,
        "steps_per_epoch": steps_per_epoch,
        "seconds_total": seconds_total,
        "selection": selection,
        "selected": selected,
        **({"selection_note": note} if note else {}),
        "losses": losses,
        "valid_history": history,
    }
    write_json(out_dir / "train.json", record)
    write_text(out_dir / "valid_curve.csv", _curve_csv(history))  # also without checks: the rule's output
    seconds = time.perf_counter() - start
    log.info("%d epochs this run (%.0f s); %d of %d in all", done - start_epoch, seconds, done, cfg.epochs)
    return {**record, "resumed": state is not None, "epochs_this_run": done - start_epoch, "seconds_this_run": seconds}


def _select(
    cfg: TrainConfig, gan: InpaintingGAN, best: dict[str, Any] | None, history: list[dict[str, float]], done: int
) -> tuple[str, dict[str, Any], str | None]:
    """Load the selected generator into gan.G; return the selection, what was selected (epoch and
    the check's metrics) and, when best_valid fell back to the last epoch, why."""
    if cfg.select == "best_valid" and best is not None:
        gan.G.load_state_dict(best["G"])
        return "best_valid", {k: v for k, v in best.items() if k != "G"}, None
    last_check = next((h for h in history if h["epoch"] == done), {})
    note = None
    if cfg.select == "best_valid":
        note = "no validation check after an epoch (valid_every 0 or no checks): the last epoch's generator"
        log.info("model selection: %s", note)
    return "last", {**last_check, "epoch": done}, note


def _curve_csv(history: list[dict[str, float]]) -> str:
    """Epoch vs validation metrics, one row per check."""
    if not history:
        return "epoch\n"
    names = list(history[0])
    return "\n".join([",".join(names), *(",".join(f"{h[k]:.6g}" for k in names) for h in history)]) + "\n"
