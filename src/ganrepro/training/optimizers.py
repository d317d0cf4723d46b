"""The optimizers of Algorithm 1: pylearn2's momentum SGD with the authors' schedules, and Adam,
behind one interface: `with opt.update(epoch):` around the backward passes of one update."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from ganrepro.gan_config import TrainConfig


class MomentumSGD:
    """pylearn2's SGD: v <- mu v - lr g; p <- p + v. The learning rate is divided by `decay`
    after every update (floor `lr_min`); mu rises linearly from mu_start to mu_end between
    epochs 1 and `saturate` (pylearn2's MomentumAdjustor).

    A parameter's gradient arrives in one of two ways. The hand-written passes (passes.py) never
    form the gradients of a fully connected layer: its backward pass hands (W, b, dy, x) to
    `receive` once the layer's input gradient is formed, and W and b are updated on the spot,
    v <- mu v - lr dy^T x as one matrix product into v (a GEMM with beta = mu; the bias's with a
    vector of ones), then p <- p + v while both are still in cache. Every other parameter (the
    autograd step: Adam's models, the conv models) forms a .grad, applied when the update ends."""

    def __init__(self, params: list[nn.Parameter], cfg: TrainConfig) -> None:
        self.params = params
        self.velocity = [torch.zeros_like(p) for p in params]
        self.lr0, self.decay, self.lr_min = cfg.lr, cfg.lr_decay, cfg.lr_min
        self.mu_start, self.mu_end, self.saturate = cfg.momentum_start, cfg.momentum_end, cfg.momentum_saturate
        self.updates = 0
        self.slot = {p: i for i, p in enumerate(params)}
        self._open: tuple[float, float] | None = None  # (mu, lr) of the update in progress
        self._taken: set[int] = set()  # indices of the parameters updated by `receive` in it
        self._ones = torch.ones(0)  # the bias products' vector of ones (one per row of dy)

    @torch.no_grad()
    def receive(self, weight: torch.Tensor, bias: torch.Tensor, dy: torch.Tensor, x: torch.Tensor) -> None:
        """The products of one layer (weight W, bias b, output gradient dy, input x): W and b updated now."""
        if self._open is None:
            raise RuntimeError("MomentumSGD.receive: products arrived outside `with opt.update(epoch):`")
        mu, lr = self._open
        i, j = self.slot[weight], self.slot[bias]
        v, v_bias = self.velocity[i], self.velocity[j]
        torch.addmm(v, dy.t(), x, beta=mu, alpha=-lr, out=v)
        weight.add_(v)
        if len(self._ones) != len(dy):
            self._ones = dy.new_ones(len(dy))
        torch.addmv(v_bias, dy.t(), self._ones, beta=mu, alpha=-lr, out=v_bias)
        bias.add_(v_bias)
        self._taken.update((i, j))

    def lr(self) -> float:
        return max(self.lr0 * self.decay ** (-self.updates), self.lr_min)

    def momentum(self, epoch: int) -> float:
        """pylearn2's MomentumAdjustor(start=1): its counter is 1 during (0-based) epoch 0."""
        alpha = min(max(epoch, 0) / max(self.saturate - 1, 1), 1.0)
        return self.mu_start * (1 - alpha) + self.mu_end * alpha

    @contextmanager
    def update(self, epoch: int) -> Iterator[None]:
        """One update from the backward passes run inside the block: received parameters during them,
        those with a .grad at the end. An exception inside leaves the update half applied (received
        parameters moved, the rest not): the run stops and resumes from its last checkpoint."""
        for p in self.params:
            p.grad = None
        self._taken = set()
        mu, lr = self.momentum(epoch), self.lr()
        self._open = (mu, lr)
        try:
            yield
        finally:
            self._open = None
        if any((i in self._taken) == (p.grad is not None) for i, p in enumerate(self.params)):
            raise RuntimeError("MomentumSGD.update: every parameter needs exactly one gradient (.grad or received)")
        rest = [i for i in range(len(self.params)) if i not in self._taken]
        if rest:
            self._step_with_grads(rest, mu, lr)
        self.updates += 1

    @torch.no_grad()
    def _step_with_grads(self, rest: list[int], mu: float, lr: float) -> None:
        """The update of the parameters that formed a .grad."""
        velocity, params = [self.velocity[i] for i in rest], [self.params[i] for i in rest]
        torch._foreach_mul_(velocity, mu)
        torch._foreach_add_(velocity, [p.grad for p in params], alpha=-lr)
        torch._foreach_add_(params, velocity)

    def state_dict(self) -> dict[str, Any]:
        return {"velocity": self.velocity, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for v, saved in zip(self.velocity, state["velocity"]):
            v.copy_(saved)
        self.updates = state["updates"]


class Adam:
    """torch's Adam behind the same interface (constant learning rate)."""

    def __init__(self, params: list[nn.Parameter], cfg: TrainConfig) -> None:
        self.params = params
        self.opt = torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.adam_betas), foreach=True)

    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    def momentum(self, epoch: int) -> float:
        return self.opt.param_groups[0]["betas"][0]

    @contextmanager
    def update(self, epoch: int) -> Iterator[None]:
        """One update from the gradients of the backward passes run inside the block."""
        self.opt.zero_grad(set_to_none=True)
        yield
        self.opt.step()

    def state_dict(self) -> dict[str, Any]:
        return self.opt.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.opt.load_state_dict(state)


Optimizer = MomentumSGD | Adam


def make_optimizer(params: list[nn.Parameter], cfg: TrainConfig) -> Optimizer:
    return {"sgd": MomentumSGD, "adam": Adam}[cfg.optimizer](params, cfg)
