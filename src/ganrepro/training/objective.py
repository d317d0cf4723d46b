"""The losses of Algorithm 1 at D's logits: their gradients, written out (no autograd through the
softplus, sums and slices), and the logged metrics."""

from __future__ import annotations

import torch
from torch.nn import functional as F

# The authors' discriminator objective is half the sum of the two cross-entropies
# (AdversaryCost2: d_obj = 0.5 * (cost(1, D(x)) + cost(0, D(G(z))))): D's gradient steps are half
# those of the plain sum at the same learning rate. The logged d_loss is the plain sum (log 4 at
# the equilibrium D = 1/2).
D_OBJECTIVE_SCALE = 0.5
LOGIT_FLOOR = -80.0  # exp(-logit) stays finite in float32 for the generator-gradient rescaling
METRIC_NAMES = ("d_loss", "g_loss", "d_real", "d_fake")  # what `metrics` returns, in order


def d_logit_grad(probs: torch.Tensor, m: int) -> torch.Tensor:
    """d/dl of D's objective, s (-mean log D(x) - mean log(1 - D(G(z)))) with s = D_OBJECTIVE_SCALE
    and D = sigmoid(l), over the logits of m real then m generated rows: s/m (D - 1) on the real
    rows, s/m D on the generated ones."""
    grad = probs * (D_OBJECTIVE_SCALE / m)
    grad[:m] -= D_OBJECTIVE_SCALE / m
    return grad


def g_grad_ratio(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Per generated row, the generator loss's d/dl over D's objective's d/dl (s sigmoid(l)/m, with
    s = D_OBJECTIVE_SCALE): what turns the gradient at D's input from D's backward pass into the
    generator's. Nonsaturating (-log D): -sigmoid(-l)/m over s sigmoid(l)/m = -exp(-l)/s (the
    logit floored so that exp stays finite); minimax (log(1 - D)): -sigmoid(l)/m over it = -1/s."""
    if kind == "nonsaturating":
        return torch.exp(-fake_logits.clamp(min=LOGIT_FLOOR)) * (-1.0 / D_OBJECTIVE_SCALE)
    return torch.full_like(fake_logits, -1.0 / D_OBJECTIVE_SCALE)


def g_logit_grad(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """d/dl of the generator loss over the logits of its m rows: nonsaturating (-mean log D),
    -sigmoid(-l)/m; minimax (mean log(1 - D)), -sigmoid(l)/m."""
    sign = -1.0 if kind == "nonsaturating" else 1.0
    return torch.sigmoid(sign * fake_logits) * (-1.0 / len(fake_logits))


def metrics(
    logits: torch.Tensor, probs: torch.Tensor, fake_logits: torch.Tensor, m: int, g_loss_kind: str
) -> torch.Tensor:
    """(d_loss, g_loss, mean D(x), mean D(G(z))): d_loss = -mean log D(x) - mean log(1 - D(G(z)))
    (the plain sum), g_loss = -mean log D(G(z)) (nonsaturating) or mean log(1 - D(G(z))) (minimax),
    on the logits of m real then m generated rows, and on `fake_logits` for the generator."""
    d_loss = (F.softplus(-logits[:m]).sum() + F.softplus(logits[m:]).sum()) / m
    g_loss = F.softplus(-fake_logits).mean() if g_loss_kind == "nonsaturating" else -F.softplus(fake_logits).mean()
    return torch.stack([d_loss, g_loss, probs[:m].mean(), probs[m:].mean()])
