"""Training of the inpainting GAN (models.inpainting): the paper's simultaneous update, on
completions of training images under masks drawn per example from the family.

Per step: masks m and noise z for a batch x; G completes x_hat = m x + (1 - m) G(z, m x, m); D runs
once on the real pairs (x, m) and the completed ones (x_hat, m); one backward pass gives D's update
and, at x_hat, the gradient that (D being piecewise linear up to its logit) rescales into G's
non-saturating gradient, as in the authors' code (docs/training.md). Validation checks are the
caller's (`validate`): the metrics live in the evaluation layer, which also owns the classifier.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ganrepro.data.prepared import load_split, read_meta
from ganrepro.device import resolve_device
from ganrepro.errors import UserError
from ganrepro.io import write_json, write_text
from ganrepro.models.inpainting import InpaintingGenerator, build_inpainting_models, draw_masks, save_inpainter
from ganrepro.models.networks import sample_noise
from ganrepro.training.optimizers import make_optimizer

log = logging.getLogger(__name__)

D_SCALE = 0.5  # the authors' D objective: half the sum of the two cross-entropies
LOGIT_FLOOR = -80.0  # exp(-logit) stays finite in float32
Validate = Callable[[InpaintingGenerator, int], dict[str, float]]


class InpaintingGAN:
    """G, D, their optimizers and one simultaneous update."""

    def __init__(
        self, cfg: dict[str, Any], example_shape: list[int], pixel_means: torch.Tensor, device: torch.device
    ) -> None:
        self.cfg, self.example_shape, self.device = cfg, example_shape, device
        G, D = build_inpainting_models(cfg, int(np.prod(example_shape)), pixel_means)
        self.G, self.D = G.to(device), D.to(device)
        self.opt_g = make_optimizer(list(self.G.parameters()), cfg)
        self.opt_d = make_optimizer(list(self.D.parameters()), cfg)
        self.masks = torch.Generator().manual_seed(cfg["seed"])

    def step(self, x: torch.Tensor, epoch: int) -> torch.Tensor:
        """One update of D and G on the real batch x (n, d); returns (d_loss, g_loss, D(x), D(x_hat))."""
        n = len(x)
        m = draw_masks(n, self.example_shape, self.masks).to(self.device)
        x_fake = self.G(sample_noise(n, self.cfg["z_dim"], self.cfg["noise"], self.device), x, m)
        leaf = x_fake.detach().requires_grad_()
        logits = self.D(torch.cat([x, leaf]), torch.cat([m, m]))
        probs = torch.sigmoid(logits.detach())
        d_grad = probs * (D_SCALE / n)  # d/dl of D_SCALE (-mean log D(x) - mean log(1 - D(x_hat)))
        d_grad[:n] -= D_SCALE / n
        with self.opt_d.update(epoch):
            logits.backward(d_grad)
        fake = logits.detach()[n:]
        ratio = torch.exp(-fake.clamp(min=LOGIT_FLOOR)) * (-1.0 / D_SCALE)  # -sigmoid(-l)/n over D_SCALE sigmoid(l)/n
        with self.opt_g.update(epoch):
            x_fake.backward(leaf.grad * ratio[:, None])
        real = logits.detach()[:n]
        d_loss = F.softplus(-real).mean() + F.softplus(fake).mean()
        return torch.stack([d_loss, F.softplus(-fake).mean(), probs[:n].mean(), probs[n:].mean()])


LOSS_NAMES = ("d_loss", "g_loss", "d_real", "d_fake")


def train_inpainter(
    cfg: dict[str, Any], data: Path, out_dir: Path, dataset: str, validate: Validate | None = None
) -> dict[str, Any]:
    """Train for cfg['epochs'] epochs; before the first, every cfg['valid_every'] epochs and after the
    last, record `validate(G, epoch)`. Writes OUT_DIR/model.pt, train.json (losses and validation history) and
    valid_curve.csv (epoch vs validation metrics); returns the train.json record."""
    meta = read_meta(data)
    if meta.get("kind") != "image":
        raise UserError(f"{data}: dataset '{meta['dataset']}' has no images; inpainting needs images (C, H, W)")
    device = resolve_device(cfg["device"])
    x = load_split(data, "train").reshape(meta["n_train"], -1)
    if cfg["train_limit"]:
        x = x[: cfg["train_limit"]]
    x_train = torch.from_numpy(np.ascontiguousarray(x)).to(device)
    batch = cfg["batch_size"]
    steps_per_epoch = len(x_train) // batch
    if steps_per_epoch == 0:
        raise UserError(f"inpaint: batch_size {batch} exceeds the {len(x_train)} training examples of {data}")
    torch.manual_seed(cfg["seed"])
    gan = InpaintingGAN(cfg, meta["example_shape"], x_train.mean(0), device)
    losses, history = [], []
    if validate and cfg["valid_every"]:  # the starting point of the curve: G's output bias is the mean image
        history.append({"epoch": 0, **validate(gan.G, 0)})
    start = time.perf_counter()
    for epoch in range(cfg["epochs"]):
        perm = torch.randperm(len(x_train), device=device)
        acc = torch.zeros(len(LOSS_NAMES), device=device)
        for i in range(steps_per_epoch):
            acc += gan.step(x_train.index_select(0, perm[i * batch : (i + 1) * batch]), epoch)
        row = dict(zip(LOSS_NAMES, (acc / steps_per_epoch).tolist()))
        if not all(np.isfinite(list(row.values()))):
            raise UserError(f"inpaint: non-finite loss in epoch {epoch + 1} ({row}); lower the learning rate")
        losses.append({"epoch": epoch + 1, **row, "seconds": time.perf_counter() - start})
        log.info("epoch %d/%d: %s", epoch + 1, cfg["epochs"], ", ".join(f"{k} {v:.4f}" for k, v in row.items()))
        done = epoch + 1
        if validate and cfg["valid_every"] and (done % cfg["valid_every"] == 0 or done == cfg["epochs"]):
            history.append({"epoch": done, **validate(gan.G, done)})
            log.info("epoch %d: validation %s", done, history[-1])
            write_text(out_dir / "valid_curve.csv", _curve_csv(history))  # the curve so far, readable while training
    seconds = time.perf_counter() - start
    model_meta = {
        "config": cfg,
        "dataset": dataset,
        "data_dim": x_train.shape[1],
        "example_shape": meta["example_shape"],
        "epochs": cfg["epochs"],
    }
    save_inpainter(out_dir / "model.pt", gan.G, model_meta)
    record = {
        "dataset": dataset,
        "seed": cfg["seed"],
        "epochs": cfg["epochs"],
        "steps": cfg["epochs"] * steps_per_epoch,
        "seconds_total": seconds,
        "losses": losses,
        "valid_history": history,
    }
    write_json(out_dir / "train.json", record)
    write_text(out_dir / "valid_curve.csv", _curve_csv(history))  # also without checks: the rule's output
    return record


def _curve_csv(history: list[dict[str, float]]) -> str:
    """Epoch vs validation metrics, one row per check."""
    if not history:
        return "epoch\n"
    names = list(history[0])
    return "\n".join([",".join(names), *(",".join(f"{h[k]:.6g}" for k in names) for h in history)]) + "\n"
