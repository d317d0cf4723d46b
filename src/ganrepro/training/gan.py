"""Algorithm 1: the generator, the discriminator, their optimizers and one training iteration.

One iteration = k discriminator updates and one generator update. With `update: simultaneous`
(the authors' code) the last discriminator update and the generator update come from one forward
pass: D runs once on the concatenated real and generated batch, one backward pass gives D's
gradients and the gradient at the generated images, which (per example, since D is piecewise
linear up to its logit) is rescaled into the generator's gradient. `alternating` is Algorithm 1 as
printed: D steps, then a G step through D on fresh noise.

The steps themselves: step.py (the reference, through autograd) and passes.py (the same steps
through hand-written passes, for the fully connected models with momentum SGD).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from ganrepro.errors import UserError
from ganrepro.gan_config import TrainConfig
from ganrepro.models.networks import bias_from_marginals, build_models, sample_noise
from ganrepro.training import passes, step
from ganrepro.training.optimizers import MomentumSGD, Optimizer, make_optimizer
from ganrepro.training.step import Batch


class GAN:
    """Generator, discriminator, their optimizers and one training iteration (Algorithm 1)."""

    def __init__(
        self,
        cfg: TrainConfig,
        data_dim: int,
        n_classes: int,
        device: torch.device,
        pixel_means: torch.Tensor | None = None,
    ) -> None:
        self.cfg, self.device = cfg, device
        self.n_classes = n_classes if cfg.conditional else 0
        self.G, self.D = (m.to(device) for m in build_models(cfg, data_dim, n_classes))
        if cfg.g_output_bias == "marginals" and not hasattr(self.G, "out"):
            raise UserError(
                "train.*.g_output_bias: 'marginals' needs a fully connected generator (arch: mlp); "
                "use g_output_bias: none with arch: conv"
            )
        if cfg.g_output_bias == "marginals" and pixel_means is not None:
            with torch.no_grad():
                self.G.out.bias.copy_(bias_from_marginals(pixel_means.cpu()))  # float64 on the host (MPS has none)
        self.g_params, self.d_params = list(self.G.parameters()), list(self.D.parameters())
        self.opt_g, self.opt_d = make_optimizer(self.g_params, cfg), make_optimizer(self.d_params, cfg)
        # the fast path: hand-written passes, weight products handed to MomentumSGD.receive
        self.by_hand = passes.supports(self.G, self.D) and all(
            isinstance(o, MomentumSGD) for o in (self.opt_g, self.opt_d)
        )
        self.max_col_norm = cfg.max_col_norm

    def noise(self, n: int) -> torch.Tensor:
        return sample_noise(n, self.cfg.z_dim, self.cfg.noise, self.device)

    def fake_labels(self, c_real: torch.Tensor | None) -> torch.Tensor | None:
        """Conditional models generate the classes of the real batch (the same class balance)."""
        return c_real if self.n_classes else None

    def iteration(self, batches: list[Batch], epoch: int) -> torch.Tensor:
        """k-1 D updates, then D and G updates; returns (d_loss, g_loss, mean D(x), mean D(G(z)))."""
        steps = passes if self.by_hand else step
        for x_real, c_real in batches[:-1]:
            steps.d_step(self, x_real, c_real, epoch)
        x_real, c_real = batches[-1]
        if self.cfg.update == "simultaneous":
            return steps.simultaneous_step(self, x_real, c_real, epoch)
        return steps.alternating_step(self, x_real, c_real, epoch)

    @contextmanager
    def updating(self, opt: Optimizer, params: list[nn.Parameter], epoch: int) -> Iterator[None]:
        """One update of `opt` from the backward passes inside the block, then the column-norm limit."""
        with opt.update(epoch):
            yield
        if self.max_col_norm:
            with torch.no_grad():
                for p in params:
                    if p.dim() == 2:
                        p.copy_(torch.renorm(p, 2, 0, self.max_col_norm))

    def state_dict(self) -> dict[str, Any]:
        return {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
