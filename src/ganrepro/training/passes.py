"""The fast path: the steps of step.py for the fully connected models (MLPGenerator,
MaxoutDiscriminator) with momentum SGD, through hand-written forward and backward passes.

The backward passes hand each layer's (dy, x) to `take` (MomentumSGD.receive) once the layer's
input gradient is formed, so no parameter forms a gradient. Against the reference steps through
autograd they leave out the graph, the gradient tensors and a dozen bookkeeping operations (about
1 ms of an 18 ms MNIST step on 2 CPU cores), and D's backward pass forms the input gradient of
the rows that need it only (docs/training.md). tests/training/test_steps.py checks them against
the reference steps over several steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from ganrepro.models.networks import MaxoutDiscriminator, MLPGenerator, dropout_mask, with_condition
from ganrepro.training.objective import d_logit_grad, g_grad_ratio, g_logit_grad, metrics
from ganrepro.training.step import cat

if TYPE_CHECKING:
    from ganrepro.training.gan import GAN

IN_PLACE = {"relu": torch.relu_, "sigmoid": torch.sigmoid_}  # models.ACTIVATIONS, in place
Take = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], None]  # (weight, bias, dy, x)


def supports(G: nn.Module, D: nn.Module) -> bool:
    """Whether these models have hand-written passes."""
    return isinstance(G, MLPGenerator) and isinstance(D, MaxoutDiscriminator)


@torch.no_grad()
def d_step(
    gan: GAN, x_real: torch.Tensor, c_real: torch.Tensor | None, epoch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """step.d_step through the hand-written passes."""
    c_fake = gan.fake_labels(c_real)
    x_fake = generator_forward(gan.G, gan.noise(len(x_real)), c_fake).output
    logits, tape = discriminator_forward(gan.D, torch.cat([x_real, x_fake]), cat(c_real, c_fake))
    probs = torch.sigmoid(logits)
    with gan.updating(gan.opt_d, gan.d_params, epoch):
        discriminator_backward(gan.D, tape, d_logit_grad(probs, len(x_real)), gan.opt_d.receive, slice(0, 0))
    return logits, probs


@torch.no_grad()
def simultaneous_step(gan: GAN, x_real: torch.Tensor, c_real: torch.Tensor | None, epoch: int) -> torch.Tensor:
    """step.simultaneous_step through the hand-written passes."""
    m, kind = len(x_real), gan.cfg.g_loss
    c_fake = gan.fake_labels(c_real)
    g_tape = generator_forward(gan.G, gan.noise(m), c_fake)
    x_fake = g_tape.output
    logits, d_tape = discriminator_forward(gan.D, torch.cat([x_real, x_fake]), cat(c_real, c_fake))
    probs = torch.sigmoid(logits)
    with gan.updating(gan.opt_d, gan.d_params, epoch):
        dx_fake = discriminator_backward(gan.D, d_tape, d_logit_grad(probs, m), gan.opt_d.receive, slice(m, None))
    fake_logits = logits[m:]
    with gan.updating(gan.opt_g, gan.g_params, epoch):
        dx_fake = dx_fake[:, : x_fake.shape[1]] * g_grad_ratio(fake_logits, kind)[:, None]
        generator_backward(gan.G, g_tape, dx_fake, gan.opt_g.receive)
    return metrics(logits, probs, fake_logits, m, kind)


@torch.no_grad()
def alternating_step(gan: GAN, x_real: torch.Tensor, c_real: torch.Tensor | None, epoch: int) -> torch.Tensor:
    """step.alternating_step through the hand-written passes (D's products in G's update discarded)."""
    m, kind = len(x_real), gan.cfg.g_loss
    logits, probs = d_step(gan, x_real, c_real, epoch)
    c_fake = gan.fake_labels(c_real)
    g_tape = generator_forward(gan.G, gan.noise(m), c_fake)
    fake_logits, d_tape = discriminator_forward(gan.D, g_tape.output, c_fake)
    with gan.updating(gan.opt_g, gan.g_params, epoch):
        dx = discriminator_backward(gan.D, d_tape, g_logit_grad(fake_logits, kind), None, slice(None))
        generator_backward(gan.G, g_tape, dx[:, : g_tape.output.shape[1]], gan.opt_g.receive)
    return metrics(logits, probs, fake_logits, m, kind)


@dataclass
class GeneratorTape:
    """What the generator's backward pass needs: each layer's input, and the output."""

    inputs: list[torch.Tensor]
    output: torch.Tensor


@dataclass
class DiscriminatorTape:
    """Per layer (the maxout layers, then the logit layer): its input after dropout, the dropout
    mask that made it (None without dropout) and, for maxout layers, the 0/1 mask of the maxima.
    The backward pass overwrites the masks of the maxima: one backward pass per tape."""

    inputs: list[torch.Tensor]
    dropout_masks: list[torch.Tensor | None]
    max_masks: list[torch.Tensor]


@torch.no_grad()
def generator_forward(G: MLPGenerator, z: torch.Tensor, c: torch.Tensor | None) -> GeneratorTape:
    """G(z, c) as MLPGenerator.forward computes it, keeping what the backward pass needs."""
    h = with_condition(z, c, G.n_classes)
    inputs = []
    for layer, kind in zip(G.hidden, G.activations):
        inputs.append(h)
        h = IN_PLACE[kind](torch.addmm(layer.bias, h, layer.weight.t()))
    inputs.append(h)
    a = torch.addmm(G.out.bias, h, G.out.weight.t())
    return GeneratorTape(inputs, a.sigmoid_() if G.output == "sigmoid" else a)


@torch.no_grad()
def generator_backward(G: MLPGenerator, tape: GeneratorTape, dx: torch.Tensor, take: Take) -> None:
    """Backward pass from dx = d loss / d G(z): every layer's (dy, x) to `take`, last layer first."""
    layers = [*G.hidden, G.out]
    kinds = [*G.activations, G.output]
    outputs = [*tape.inputs[1:], tape.output]
    grad = dx
    for i in reversed(range(len(layers))):
        dy = _activation_backward(kinds[i], outputs[i], grad)
        if i:
            grad = dy @ layers[i].weight
        take(layers[i].weight, layers[i].bias, dy, tape.inputs[i])


def _activation_backward(kind: str, y: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """grad times the activation's derivative, from its output y."""
    if kind == "relu":
        return torch.ops.aten.threshold_backward(grad, y, 0.0)  # one pass (grad * (y > 0) takes three)
    if kind == "sigmoid":
        return torch.ops.aten.sigmoid_backward(grad, y)  # grad * y * (1 - y) in one pass
    if kind == "linear":
        return grad
    raise ValueError(f"passes: no derivative for activation {kind!r}")


@torch.no_grad()
def discriminator_forward(
    D: MaxoutDiscriminator, x: torch.Tensor, c: torch.Tensor | None
) -> tuple[torch.Tensor, DiscriminatorTape]:
    """D's logits as MaxoutDiscriminator.forward (dropout in training mode, with the masks drawn in
    the same order), and the tape."""
    tape = DiscriminatorTape([], [], [])
    input_keep, hidden_keep = (D.input_keep, D.hidden_keep) if D.training else (1.0, 1.0)
    h, keep = with_condition(x.flatten(1), c, D.n_classes), input_keep
    for layer in D.hidden:
        h = _record_dropout(tape, h, keep)
        u = torch.addmm(layer.linear.bias, h, layer.linear.weight.t()).view(len(h), layer.pieces, layer.units)
        h = u.amax(dim=1)
        tape.max_masks.append(torch.eq(u, h.unsqueeze(1), out=u))  # u is not needed any more
        keep = hidden_keep
    h = _record_dropout(tape, h, keep)
    return torch.addmm(D.out.bias, h, D.out.weight.t()).squeeze(1), tape


def _record_dropout(tape: DiscriminatorTape, h: torch.Tensor, keep: float) -> torch.Tensor:
    mask = dropout_mask(h, keep) if keep < 1.0 else None
    h = h if mask is None else h * mask
    tape.inputs.append(h)
    tape.dropout_masks.append(mask)
    return h


@torch.no_grad()
def discriminator_backward(
    D: MaxoutDiscriminator, tape: DiscriminatorTape, dlogits: torch.Tensor, take: Take | None, input_rows: slice
) -> torch.Tensor:
    """Backward pass from the logits' gradient: every layer's (dy, x) to `take` (None: D is not
    being updated); returns the gradient at D's input (with the condition's columns) for
    `input_rows` only (slice(0, 0): none)."""
    dy = dlogits.unsqueeze(1)
    layers = [layer.linear for layer in D.hidden] + [D.out]
    for i in reversed(range(len(layers))):
        if i < len(D.hidden):
            # grad: the layer above's input gradient (the output layer comes first); the mask is used once
            dy = tape.max_masks[i].mul_(grad.unsqueeze(1)).view(len(grad), -1)  # noqa: F821
        rows = input_rows if i == 0 else slice(None)
        grad = dy[rows] @ layers[i].weight
        if take is not None:
            take(layers[i].weight, layers[i].bias, dy, tape.inputs[i])
        if tape.dropout_masks[i] is not None:
            grad.mul_(tape.dropout_masks[i][rows])
    return grad
