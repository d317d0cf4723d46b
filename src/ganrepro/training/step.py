"""The reference steps of Algorithm 1, through autograd: short, and what the fast path
(passes.py) is tested against. They serve the models and optimizers the fast path does not take
(Adam, the conv models). The update scheme is described in gan.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ganrepro.training.objective import d_logit_grad, g_grad_ratio, g_logit_grad, metrics

if TYPE_CHECKING:
    from ganrepro.training.gan import GAN

Batch = tuple[torch.Tensor, torch.Tensor | None]  # real examples, their classes (conditional models)


def d_step(
    gan: GAN, x_real: torch.Tensor, c_real: torch.Tensor | None, epoch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One discriminator update on a real batch and fresh generated images (G not updated);
    returns D's logits and probabilities of the real then generated rows."""
    c_fake = gan.fake_labels(c_real)
    with torch.no_grad():
        x_fake = gan.G(gan.noise(len(x_real)), c_fake)
    logits = gan.D(torch.cat([x_real, x_fake]), cat(c_real, c_fake))
    probs = torch.sigmoid(logits.detach())
    with gan.updating(gan.opt_d, gan.d_params, epoch):
        logits.backward(d_logit_grad(probs, len(x_real)))
    return logits.detach(), probs


def simultaneous_step(gan: GAN, x_real: torch.Tensor, c_real: torch.Tensor | None, epoch: int) -> torch.Tensor:
    """D's update and G's from one D pass: G's gradient at its images is D's input gradient, rescaled."""
    m, kind = len(x_real), gan.cfg.g_loss
    c_fake = gan.fake_labels(c_real)
    x_fake = gan.G(gan.noise(m), c_fake)
    x_fake_leaf = x_fake.detach().requires_grad_()
    logits = gan.D(torch.cat([x_real, x_fake_leaf]), cat(c_real, c_fake))
    probs = torch.sigmoid(logits.detach())
    with gan.updating(gan.opt_d, gan.d_params, epoch):
        logits.backward(d_logit_grad(probs, m))
    fake_logits = logits[m:].detach()
    with gan.updating(gan.opt_g, gan.g_params, epoch):
        x_fake.backward(x_fake_leaf.grad * g_grad_ratio(fake_logits, kind)[:, None])
    return metrics(logits.detach(), probs, fake_logits, m, kind)


def alternating_step(gan: GAN, x_real: torch.Tensor, c_real: torch.Tensor | None, epoch: int) -> torch.Tensor:
    """A D update, then a G update through the updated D on fresh noise."""
    m, kind = len(x_real), gan.cfg.g_loss
    logits, probs = d_step(gan, x_real, c_real, epoch)
    c_fake = gan.fake_labels(c_real)
    fake_logits = gan.D(gan.G(gan.noise(m), c_fake), c_fake)
    with gan.updating(gan.opt_g, gan.g_params, epoch):
        fake_logits.backward(g_logit_grad(fake_logits.detach(), kind), inputs=gan.g_params)
    return metrics(logits, probs, fake_logits.detach(), m, kind)


def cat(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    """Real and generated classes of a D pass (None for unconditional models)."""
    return None if a is None else torch.cat([a, b])
