"""The networks of the paper: maxout discriminators, ReLU/sigmoid generators, their conv variants
for CIFAR-10, and the approximate-inference net E (x -> z).

Layer conventions follow the authors' pylearn2 configurations: weights uniform in [-irange, irange],
biases 0 unless stated, inverted dropout on the inputs of every discriminator layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ganrepro.errors import UserError
from ganrepro.gan_config import TrainConfig

CONV_IMAGE_SHAPE = (3, 32, 32)  # what arch: conv takes (its layer sizes are CIFAR-10's)


def init_uniform_(layer: nn.Linear | nn.Conv2d | nn.ConvTranspose2d, irange: float) -> None:
    """pylearn2's `irange` init: weights uniform in [-irange, irange], biases zero."""
    nn.init.uniform_(layer.weight, -irange, irange)
    nn.init.zeros_(layer.bias)


def bias_from_marginals(pixel_means: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Sigmoid output bias so that G's initial output equals the training pixel means (logit), the
    means clipped to [eps, 1 - eps] as pylearn2's init_sigmoid_bias_from_array (an always-black
    MNIST pixel starts at -16.1)."""
    p = pixel_means.double().clamp(eps, 1 - eps)
    return torch.log(p / (1 - p)).to(pixel_means.dtype)


class _MaxOverPieces(torch.autograd.Function):
    """Max over dim 1 of (batch, pieces, units). The backward pass multiplies by a saved 0/1 mask of
    the maxima: on the CPU, autograd's amax backward took ten times as long. A tie passes the whole
    gradient to every tied piece (as Theano's max, which pylearn2's maxout used; amax would split
    it); ties need equal pre-activations, e.g. an all-zero input row with equal biases."""

    @staticmethod
    def forward(ctx, y: torch.Tensor) -> torch.Tensor:
        out = y.amax(dim=1)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(torch.eq(y, out.unsqueeze(1), out=torch.empty_like(y)))
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (is_max,) = ctx.saved_tensors
        return is_max * grad.unsqueeze(1)


class Maxout(nn.Module):
    """A linear map to pieces x units, then the max over each unit's pieces. Output row k * units + u
    is piece k of unit u (piece-major: the max runs over contiguous blocks)."""

    def __init__(self, in_features: int, units: int, pieces: int, irange: float) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)
        init_uniform_(self.linear, irange)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _MaxOverPieces.apply(self.linear(x).view(x.shape[0], self.pieces, self.units))


ACTIVATIONS = {"relu": F.relu, "sigmoid": torch.sigmoid}


class MLPGenerator(nn.Module):
    """z (+ one-hot c) -> hidden layers (ReLU unless `activations` says otherwise) -> sigmoid
    (images in [0, 1]) or linear output."""

    def __init__(
        self,
        z_dim: int,
        hidden: Sequence[int],
        out_dim: int,
        irange: float,
        output: str = "sigmoid",
        n_classes: int = 0,
        activations: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.z_dim, self.n_classes, self.output = z_dim, n_classes, output
        self.activations = list(activations or ["relu"] * len(hidden))  # names, keys of ACTIVATIONS
        if len(self.activations) != len(hidden) or not set(self.activations) <= ACTIVATIONS.keys():
            raise ValueError(
                f"train.*.g_activations: {self.activations} for {len(hidden)} hidden layers "
                f"(one of {sorted(ACTIVATIONS)} per layer)"
            )
        sizes = [z_dim + n_classes, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], out_dim)
        for layer in [*self.hidden, self.out]:
            init_uniform_(layer, irange)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = with_condition(z, c, self.n_classes)
        for layer, activation in zip(self.hidden, self.activations):
            h = ACTIVATIONS[activation](layer(h))
        a = self.out(h)
        return torch.sigmoid(a) if self.output == "sigmoid" else a


class MaxoutDiscriminator(nn.Module):
    """x (+ one-hot c) -> dropout/maxout layers -> dropout -> linear logit (D = sigmoid(logit))."""

    def __init__(
        self,
        in_dim: int,
        units: Sequence[int],
        pieces: int,
        irange: float,
        input_keep: float = 0.8,
        hidden_keep: float = 0.5,
        n_classes: int = 0,
    ) -> None:
        super().__init__()
        self.n_classes, self.input_keep, self.hidden_keep = n_classes, input_keep, hidden_keep
        sizes = [in_dim + n_classes, *units]
        self.hidden = nn.ModuleList(Maxout(a, b, pieces, irange) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], 1)
        init_uniform_(self.out, irange)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = _dropout(with_condition(x.flatten(1), c, self.n_classes), self.input_keep, self.training)
        for layer in self.hidden:
            h = _dropout(layer(h), self.hidden_keep, self.training)
        return self.out(h).squeeze(1)


class DeconvGenerator(nn.Module):
    """CIFAR-10 "deconvolutional" G: 8000 ReLU, 8000 sigmoid, reshape 80x10x10, transposed conv 5x5
    stride 3 to 3 channels, cropped to 32x32, sigmoid output."""

    def __init__(self, z_dim: int, irange: float, n_classes: int = 0, image_size: int = 32) -> None:
        super().__init__()
        self.z_dim, self.n_classes, self.image_size = z_dim, n_classes, image_size
        self.fc1 = nn.Linear(z_dim + n_classes, 8000)
        self.fc2 = nn.Linear(8000, 8000)
        self.deconv = nn.ConvTranspose2d(80, 3, kernel_size=5, stride=3)  # 10x10 -> 32x32
        for layer in (self.fc1, self.fc2, self.deconv):
            init_uniform_(layer, irange)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = F.relu(self.fc1(with_condition(z, c, self.n_classes)))
        h = torch.sigmoid(self.fc2(h)).view(-1, 80, 10, 10)
        x = torch.sigmoid(self.deconv(h))[:, :, : self.image_size, : self.image_size]
        return x.flatten(1)


class ConvMaxout(nn.Module):
    """Convolution to channels x pieces, max over pieces, then max pooling."""

    def __init__(
        self,
        in_ch: int,
        channels: int,
        pieces: int,
        kernel: int,
        pool: int,
        stride: int,
        irange: float,
        padding: int = 0,
    ) -> None:
        super().__init__()
        self.channels, self.pieces, self.pool, self.stride = channels, pieces, pool, stride
        self.conv = nn.Conv2d(in_ch, channels * pieces, kernel, padding=padding)
        init_uniform_(self.conv, irange)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        h = h.view(h.shape[0], self.channels, self.pieces, *h.shape[2:]).amax(dim=2)
        return F.max_pool2d(h, self.pool, self.stride, ceil_mode=True)


class ConvMaxoutDiscriminator(nn.Module):
    """CIFAR-10 convolutional D: conv maxout 32x2 8x8 (pool 4 stride 2), conv maxout 32x2 8x8,
    conv maxout 192x2 5x5 (pool 2), maxout 500x5, sigmoid logit; dropout as the MLP D."""

    def __init__(self, irange: float, input_keep: float = 0.8, hidden_keep: float = 0.5, n_classes: int = 0) -> None:
        super().__init__()
        self.n_classes, self.input_keep, self.hidden_keep = n_classes, input_keep, hidden_keep
        self.convs = nn.ModuleList(
            [
                ConvMaxout(3 + n_classes, 32, 2, 8, pool=4, stride=2, irange=irange, padding=4),
                ConvMaxout(32, 32, 2, 8, pool=4, stride=2, irange=irange, padding=3),
                ConvMaxout(32, 192, 2, 5, pool=2, stride=2, irange=irange, padding=3),
            ]
        )
        with torch.no_grad():
            flat = self._features(torch.zeros(1, 3 + n_classes, 32, 32)).shape[1]
        self.maxout = Maxout(flat, 500, 5, irange)
        self.out = nn.Linear(500, 1)
        init_uniform_(self.out, irange)

    def _features(self, h: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            h = _dropout(conv(h), self.hidden_keep, self.training)
        return h.flatten(1)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = x.view(-1, 3, 32, 32)
        if self.n_classes:
            planes = F.one_hot(c, self.n_classes).to(h.dtype)[:, :, None, None].expand(-1, -1, 32, 32)
            h = torch.cat([h, planes], dim=1)
        h = self._features(_dropout(h, self.input_keep, self.training))
        h = _dropout(self.maxout(h), self.hidden_keep, self.training)
        return self.out(h).squeeze(1)


class InferenceNet(nn.Module):
    """E: x -> z, an MLP trained on (G(z), z) pairs from the frozen generator."""

    def __init__(self, in_dim: int, hidden: Sequence[int], z_dim: int) -> None:
        super().__init__()
        sizes = [in_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], z_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


def build_models(cfg: TrainConfig, data_dim: int, n_classes: int = 0) -> tuple[nn.Module, nn.Module]:
    """Generator and discriminator for one training config (a merged params.yaml train section)."""
    cond = n_classes if cfg.conditional else 0
    if cfg.arch == "mlp":
        g = MLPGenerator(
            cfg.z_dim,
            cfg.g_hidden,
            data_dim,
            cfg.g_irange,
            cfg.g_output,
            cond,
            cfg.g_activations,
        )
        d = MaxoutDiscriminator(
            data_dim, cfg.d_units, cfg.d_pieces, cfg.d_irange, cfg.d_input_keep, cfg.d_hidden_keep, cond
        )
    elif cfg.arch == "conv":
        g = DeconvGenerator(cfg.z_dim, cfg.g_irange, cond)
        d = ConvMaxoutDiscriminator(cfg.d_irange, cfg.d_input_keep, cfg.d_hidden_keep, cond)
    else:
        raise ValueError(f"train.*.arch: unknown architecture {cfg.arch!r} (mlp or conv)")
    if cfg.bias_irange:
        for module in (*g.modules(), *d.modules()):
            if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.uniform_(module.bias, -cfg.bias_irange, cfg.bias_irange)
    return g, d


def check_data_shape(arch: str, example_shape: Sequence[int], dataset: str) -> None:
    """Refuse data the architecture cannot take, before any tensor of the wrong size is formed
    (`dataset` names the data in the message)."""
    if arch == "conv" and tuple(example_shape) != CONV_IMAGE_SHAPE:
        shape = "x".join(map(str, example_shape))
        raise UserError(
            f"train.*.arch: conv needs 3x32x32 images (CIFAR-10); dataset {dataset} has examples "
            f"of shape {shape}: use arch: mlp"
        )


def condition_classes(G: nn.Module) -> int:
    """Classes G is conditioned on (0 for an unconditional generator, whatever its dataset's labels)."""
    return int(getattr(G, "n_classes", 0))


def with_condition(x: torch.Tensor, c: torch.Tensor | None, n_classes: int) -> torch.Tensor:
    """x (n, d) with the one-hot classes c appended for a model conditioned on n_classes (x itself when 0)."""
    if not n_classes:
        return x
    if c is None:
        raise ValueError("this model is conditional: pass the class labels c")
    return torch.cat([x, F.one_hot(c, n_classes).to(x.dtype)], dim=1)


def _dropout(x: torch.Tensor, keep: float, training: bool) -> torch.Tensor:
    """Inverted dropout: each unit kept with probability `keep`, kept units scaled by its inverse."""
    if keep >= 1.0 or not training:
        return x
    return x * dropout_mask(x, keep)


def dropout_mask(x: torch.Tensor, keep: float) -> torch.Tensor:
    """Inverted dropout's mask for x: 1/keep' with probability keep', else 0.
    On the CPU the mask comes from 8 random bits per unit when `keep` is a multiple of 1/256 (0.5),
    16 bits otherwise, several units per 64-bit draw (float draws and F.dropout's bernoulli_ are
    generated serially there and took 3-8% of a training step); keep' is `keep` rounded to a
    multiple of 2^-16 (0.8 -> 0.800003). Elsewhere keep' = keep."""
    if x.device.type != "cpu":
        return (torch.rand_like(x) < keep).to(x.dtype) * (1.0 / keep)
    bits_dtype, levels = (torch.int8, 256) if keep * 256 == round(keep * 256) else (torch.int16, 65536)
    n, per_draw = x.numel(), 8 // bits_dtype.itemsize
    draws = torch.empty((n + per_draw - 1) // per_draw, dtype=torch.int64).random_(-(2**63), None)  # all 64 bits
    bits = draws.view(bits_dtype)[:n].view(x.shape)
    kept = max(round(keep * levels), 1)  # P(bits < kept - levels / 2) = kept / levels
    mask = torch.lt(bits, kept - levels // 2, out=torch.empty_like(x))
    return mask.mul_(levels / kept)


def sample_noise(
    n: int, z_dim: int, kind: str, device: torch.device, generator: torch.Generator | None = None
) -> torch.Tensor:
    """p_z: 'uniform' in [-sqrt 3, sqrt 3] (unit variance, the MNIST yaml) or standard 'normal'."""
    if kind == "uniform":
        u = torch.rand(n, z_dim, device=device, generator=generator)
        return (u * 2.0 - 1.0) * 3.0**0.5
    if kind == "normal":
        return torch.randn(n, z_dim, device=device, generator=generator)
    raise ValueError(f"train.*.noise: unknown noise {kind!r} (uniform or normal)")


@torch.no_grad()
def generate(G: nn.Module, cfg: TrainConfig, n: int, seed: int, batch: int = 1000) -> dict[str, np.ndarray]:
    """x (n, d) float32 (in [0, 1] for images), z (n, z_dim), and labels: class i % k for a generator
    conditioned on k classes, else -1. Uses a private RNG seeded by `seed`, so a training run's RNG
    stream is left untouched."""
    n_classes = condition_classes(G)
    device = next(G.parameters()).device
    was_training = G.training
    G.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    labels = torch.arange(n, device=device) % n_classes if n_classes else torch.full((n,), -1, device=device)
    xs, zs = [], []
    for start in range(0, n, batch):
        z = sample_noise(min(batch, n - start), cfg.z_dim, cfg.noise, device, gen)
        xs.append(G(z, labels[start : start + len(z)] if n_classes else None).cpu())
        zs.append(z.cpu())
    G.train(was_training)
    return {"x": torch.cat(xs).numpy(), "z": torch.cat(zs).numpy(), "labels": labels.cpu().numpy()}
