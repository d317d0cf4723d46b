"""The losses of Algorithm 1 at D's logits: their gradients, written out (no autograd through the
softplus, sums and slices), and the logged metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class GeneratorLoss:
    """A generator loss as a function of D's logit l on one generated example (the batch's loss is
    the mean over its rows): the loss, its derivative in l, and that derivative over sigmoid(l), by
    which the simultaneous update rescales D's input gradient (which carries sigmoid(l)) into G's."""

    loss: Callable[[torch.Tensor], torch.Tensor]
    grad: Callable[[torch.Tensor], torch.Tensor]
    grad_over_sigmoid: Callable[[torch.Tensor], torch.Tensor]


# The values of `train.*.g_loss`. A new loss is one entry here and its name in the schema's g_loss
# enum: tests/training/test_steps.py checks each entry against autograd, and the enum.
GENERATOR_LOSSES = {
    # -log D = softplus(-l), the paper's choice in practice: strong gradients while D rejects G's
    # samples. -sigmoid(-l) over sigmoid(l) is -exp(-l), the logit floored so that exp stays finite.
    "nonsaturating": GeneratorLoss(
        loss=lambda logit: F.softplus(-logit),
        grad=lambda logit: torch.sigmoid(-logit) * -1.0,
        grad_over_sigmoid=lambda logit: torch.exp(-logit.clamp(min=LOGIT_FLOOR)) * -1.0,
    ),
    # log(1 - D) = -softplus(l), the minimax game as written.
    "minimax": GeneratorLoss(
        loss=lambda logit: -F.softplus(logit),
        grad=lambda logit: torch.sigmoid(logit) * -1.0,
        grad_over_sigmoid=lambda logit: torch.full_like(logit, -1.0),
    ),
}


def g_grad_ratio(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Per generated row, the generator loss's d/dl over D's objective's d/dl (s sigmoid(l)/m, with
    s = D_OBJECTIVE_SCALE): what turns the gradient at D's input from D's backward pass into the
    generator's."""
    return GENERATOR_LOSSES[kind].grad_over_sigmoid(fake_logits) * (1.0 / D_OBJECTIVE_SCALE)


def g_logit_grad(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """d/dl of the generator loss (the mean over its m rows) at the logits of its rows."""
    return GENERATOR_LOSSES[kind].grad(fake_logits) * (1.0 / len(fake_logits))


def metrics(
    logits: torch.Tensor, probs: torch.Tensor, fake_logits: torch.Tensor, m: int, g_loss_kind: str
) -> torch.Tensor:
    """(d_loss, g_loss, mean D(x), mean D(G(z))): d_loss = -mean log D(x) - mean log(1 - D(G(z)))
    (the plain sum) on the logits of m real then m generated rows, g_loss the generator loss named
    `g_loss_kind` on `fake_logits`."""
    d_loss = (F.softplus(-logits[:m]).sum() + F.softplus(logits[m:]).sum()) / m
    g_loss = GENERATOR_LOSSES[g_loss_kind].loss(fake_logits).mean()
    return torch.stack([d_loss, g_loss, probs[:m].mean(), probs[m:].mean()])
