"""Algorithm 1's maths: the written-out gradients, the reference steps against plain autograd, the
fast path (hand-written passes) against the reference, the optimizer's schedules, theory (D*)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import yaml
from torch.nn import functional as F

from ganrepro.models.networks import MaxoutDiscriminator
from ganrepro.training.gan import GAN
from ganrepro.training.objective import GENERATOR_LOSSES, d_logit_grad, g_logit_grad, metrics
from ganrepro.training.optimizers import MomentumSGD

from helpers import MNIST_LIKE, REPO_ROOT


def reference_copy(gan: GAN) -> GAN:
    """A copy of `gan` that takes the reference steps (step.py: autograd, .grad gradients)."""
    reference = copy.deepcopy(gan)
    reference.by_hand = False
    return reference


def plain_autograd_grads(gan: GAN, x: torch.Tensor, g_loss: str) -> tuple[list, list]:
    """Gradients of the two losses by ordinary autograd on the same z and dropout masks."""
    z = gan.noise(len(x))
    logits = gan.D(torch.cat([x, gan.G(z)]))
    m = len(x)
    d_loss = 0.5 * (F.softplus(-logits[:m]).mean() + F.softplus(logits[m:]).mean())  # the authors' d_obj
    g = F.softplus(-logits[m:]).mean() if g_loss == "nonsaturating" else -F.softplus(logits[m:]).mean()
    return (torch.autograd.grad(d_loss, gan.d_params, retain_graph=True), torch.autograd.grad(g, gan.g_params))


@pytest.mark.parametrize("by_hand", [True, False], ids=["fast path", "reference"])
@pytest.mark.parametrize("g_loss", ["nonsaturating", "minimax"])
def test_simultaneous_step_equals_plain_autograd(g_loss: str, by_hand: bool) -> None:
    """The one-pass update (D's input gradient rescaled per example) equals the textbook gradients."""
    torch.manual_seed(0)
    cfg = MNIST_LIKE.replace(g_loss=g_loss, d_irange=0.5, lr_decay=1.0)
    gan = GAN(cfg, 36, 0, torch.device("cpu"))
    gan.by_hand = by_hand
    reference = reference_copy(gan)
    x = torch.rand(20, 36)
    state = torch.get_rng_state()
    gan.iteration([(x, None)], epoch=0)
    torch.set_rng_state(state)
    grads_d, grads_g = plain_autograd_grads(reference, x, g_loss)
    for new, old, grad in zip(
        gan.g_params + gan.d_params, reference.g_params + reference.d_params, list(grads_g) + list(grads_d)
    ):
        expected = old - cfg.lr * grad  # first step: velocity starts at zero
        torch.testing.assert_close(new, expected, rtol=1e-5, atol=1e-7)
    assert any(g.abs().max() > 1e-4 for g in grads_g), "the check needs non-trivial generator gradients"


@pytest.mark.parametrize("by_hand", [True, False], ids=["fast path", "reference"])
def test_alternating_update_with_k_2_equals_plain_autograd_of_the_authors_objectives(by_hand: bool) -> None:
    """k = 2 discriminator steps on 0.5 (cross-entropy on data + on samples), then a generator step
    on -log D(G(z)) through the updated D: each against plain autograd on the same noise and masks."""
    torch.manual_seed(0)
    cfg = MNIST_LIKE.replace(
        update="alternating", k=2, d_irange=0.5, lr_decay=1.0, momentum_start=0.0, momentum_end=0.0
    )  # plain SGD: p <- p - lr g
    gan = GAN(cfg, 36, 0, torch.device("cpu"))
    ref = reference_copy(gan)
    gan.by_hand = by_hand
    batches = [(torch.rand(20, 36), None), (torch.rand(20, 36), None)]
    state = torch.get_rng_state()
    gan.iteration(batches, epoch=0)
    torch.set_rng_state(state)
    lr = cfg.lr
    for x, _ in batches:
        with torch.no_grad():
            fake = ref.G(ref.noise(len(x)))
        logits = ref.D(torch.cat([x, fake]))
        d_obj = 0.5 * (F.softplus(-logits[:20]).mean() + F.softplus(logits[20:]).mean())
        with torch.no_grad():
            for p, g in zip(ref.d_params, torch.autograd.grad(d_obj, ref.d_params)):
                p -= lr * g
    g_obj = F.softplus(-ref.D(ref.G(ref.noise(20)))).mean()
    with torch.no_grad():
        for p, g in zip(ref.g_params, torch.autograd.grad(g_obj, ref.g_params)):
            p -= lr * g
    for new, expected in zip(gan.g_params + gan.d_params, ref.g_params + ref.d_params):
        torch.testing.assert_close(new, expected, rtol=1e-5, atol=1e-7)


def test_written_out_logit_gradients_and_logged_losses_match_the_textbook_formulas() -> None:
    """D's and G's gradients at the logits (formed without autograd in the step) and the logged
    losses, against autograd of the losses written with log and sigmoid."""
    torch.manual_seed(3)
    m = 7
    logits = (torch.randn(2 * m) * 4).requires_grad_()
    d = torch.sigmoid(logits)
    d_loss = -torch.log(d[:m]).mean() - torch.log(1 - d[m:]).mean()
    (expected_d,) = torch.autograd.grad(0.5 * d_loss, logits, retain_graph=True)  # the authors' half objective
    torch.testing.assert_close(d_logit_grad(d.detach(), m), expected_d)
    fake = logits[m:]
    g_losses = {"nonsaturating": -torch.log(d[m:]).mean(), "minimax": torch.log(1 - d[m:]).mean()}
    for kind, g_loss in g_losses.items():
        (expected_g,) = torch.autograd.grad(g_loss, logits, retain_graph=True)
        torch.testing.assert_close(g_logit_grad(fake.detach(), kind), expected_g[m:])
    other = torch.randn(m) * 3  # the generator's logits of a second D pass (alternating update)
    d_other = torch.sigmoid(other)
    for kind, g_loss in {"nonsaturating": -torch.log(d_other).mean(), "minimax": torch.log(1 - d_other).mean()}.items():
        logged = metrics(logits.detach(), d.detach(), other, m, kind)
        torch.testing.assert_close(logged, torch.stack([d_loss, g_loss, d[:m].mean(), d[m:].mean()]).detach())


@pytest.mark.parametrize("kind", sorted(GENERATOR_LOSSES))
def test_each_generator_loss_has_consistent_derivatives(kind: str) -> None:
    """Every entry of the table (a new one included): its derivative is autograd's of its loss, and
    its derivative over sigmoid(l), used by the simultaneous update, times sigmoid(l) is that again."""
    loss = GENERATOR_LOSSES[kind]
    logits = torch.linspace(-12.0, 12.0, 97, dtype=torch.float64).requires_grad_()
    (expected,) = torch.autograd.grad(loss.loss(logits).sum(), logits)
    torch.testing.assert_close(loss.grad(logits.detach()), expected)
    torch.testing.assert_close(loss.grad_over_sigmoid(logits.detach()) * torch.sigmoid(logits.detach()), expected)
    assert torch.isfinite(loss.grad_over_sigmoid(torch.tensor([-1e4, 1e4]))).all()  # float32, far outside


def test_the_schema_offers_exactly_the_generator_losses() -> None:
    schema = yaml.safe_load((REPO_ROOT / "src/ganrepro/params.schema.yaml").read_text())
    assert schema["$defs"]["train_section"]["properties"]["g_loss"]["enum"] == list(GENERATOR_LOSSES)


FOLDED_CASES = {
    "simultaneous": {"update": "simultaneous"},
    "alternating": {"update": "alternating"},
    "k=2": {"update": "simultaneous", "k": 2},
    "alternating, k=3, minimax": {"update": "alternating", "k": 3, "g_loss": "minimax"},
    "max_col_norm": {"update": "simultaneous", "max_col_norm": 0.5},
    "conditional": {"update": "alternating", "conditional": True},
    "conditional, simultaneous": {"update": "simultaneous", "conditional": True},
    "TFD-like G (relu, sigmoid; normal noise), minimax": {
        "g_activations": ["relu", "sigmoid"],
        "noise": "normal",
        "g_loss": "minimax",
    },
    "toy-like (linear output, random biases, no dropout)": {
        "g_output": "linear",
        "bias_irange": 0.3,
        "d_input_keep": 1.0,
        "d_hidden_keep": 1.0,
    },
}


@pytest.mark.parametrize("case", FOLDED_CASES)
def test_fast_path_equals_the_reference_steps(case: str) -> None:
    """The hand-written passes (passes.py), whose weight and bias products MomentumSGD folds into
    its momentum (v <- mu v - lr dy^T x in one product), give the same parameters over several
    steps as the reference steps (step.py: autograd, .grad), for both update schemes and k > 1, and
    in the alternating update the generator's backward pass through D leaves D untouched."""
    torch.manual_seed(1)
    cfg = MNIST_LIKE.replace(**FOLDED_CASES[case], d_irange=0.5)
    n_classes = 3 if cfg.conditional else 0
    gan = GAN(cfg, 36, n_classes, torch.device("cpu"))
    assert gan.by_hand
    plain = reference_copy(gan)
    batches = [(torch.rand(20, 36), torch.randint(0, 3, (20,)) if n_classes else None) for _ in range(cfg.k)]
    for model in (gan, plain):
        torch.manual_seed(2)
        for epoch in range(4):
            model.iteration(batches, epoch=epoch * 100)
    for new, ref in zip(gan.g_params + gan.d_params, plain.g_params + plain.d_params):
        torch.testing.assert_close(new, ref, rtol=1e-5, atol=1e-6)
    if cfg.max_col_norm:  # the limit itself: no unit's incoming weight vector longer, some at it
        norms = torch.cat([p.norm(dim=1) for p in gan.g_params + gan.d_params if p.dim() == 2])
        assert norms.max() <= cfg.max_col_norm * (1 + 1e-5) and (norms > 0.999 * cfg.max_col_norm).any()
    assert all(p.grad is None for p in gan.g_params + gan.d_params)  # weights and biases received, never formed
    assert all(p.grad is not None for p in plain.g_params + plain.d_params)  # the reference formed them


def test_hand_written_passes_serve_sgd_only_and_follow_the_discriminators_mode() -> None:
    """Adam needs .grad gradients: its GAN goes through autograd. With D in eval mode (no dropout)
    the hand-written step still equals the autograd one."""
    torch.manual_seed(0)
    adam = GAN(MNIST_LIKE.replace(optimizer="adam"), 36, 0, torch.device("cpu"))
    before = [p.detach().clone() for p in adam.g_params + adam.d_params]
    adam.iteration([(torch.rand(20, 36), None)], epoch=0)
    assert not adam.by_hand
    assert all(not torch.equal(a, p) for a, p in zip(before, adam.g_params + adam.d_params))
    gan = GAN(MNIST_LIKE.replace(d_irange=0.5), 36, 0, torch.device("cpu"))
    gan.D.eval()
    plain = reference_copy(gan)
    x = torch.rand(20, 36)
    for model in (gan, plain):
        torch.manual_seed(1)
        model.iteration([(x, None)], epoch=0)
    for new, ref in zip(gan.g_params + gan.d_params, plain.g_params + plain.d_params):
        torch.testing.assert_close(new, ref, rtol=1e-5, atol=1e-6)


def test_received_products_update_the_weights_at_once_and_only_inside_an_update() -> None:
    """A layer's (dy, x) handed to MomentumSGD.receive moves W by -lr dy^T x and b by -lr sum(dy)
    on the spot (first update: zero velocity); products outside `with opt.update(...)` (a stray
    backward pass, or one after an exception closed the update) are an error, not lost silently."""
    layer = torch.nn.Linear(3, 2)
    opt = MomentumSGD(list(layer.parameters()), MNIST_LIKE.replace(lr_decay=1.0))
    x, dy = torch.rand(4, 3), torch.rand(4, 2)
    before, bias_before = layer.weight.detach().clone(), layer.bias.detach().clone()
    with opt.update(epoch=0):
        opt.receive(layer.weight, layer.bias, dy, x)
        torch.testing.assert_close(layer.weight, before - MNIST_LIKE.lr * dy.t() @ x)  # already, inside the block
    torch.testing.assert_close(layer.bias, bias_before - MNIST_LIKE.lr * dy.sum(0))
    with pytest.raises(ValueError), opt.update(epoch=0):
        raise ValueError("inside the update")
    with pytest.raises(RuntimeError, match="outside"):
        opt.receive(layer.weight, layer.bias, dy, x)
    with pytest.raises(RuntimeError, match="exactly one gradient"), opt.update(epoch=0):
        pass  # neither a .grad nor received products


def test_momentum_and_learning_rate_schedules() -> None:
    opt = MomentumSGD([torch.nn.Parameter(torch.zeros(1))], MNIST_LIKE)
    # pylearn2's MomentumAdjustor(start=1, saturate=250) counts its call before training: 1 in epoch 0
    assert opt.momentum(0) == 0.5
    assert math.isclose(opt.momentum(1), 0.5 + 0.2 / 249)
    assert math.isclose(opt.momentum(124.5), 0.5 + 0.2 * 124.5 / 249)
    assert opt.momentum(249) == opt.momentum(400) == pytest.approx(0.7)
    opt.updates = 100_000
    assert math.isclose(opt.lr(), 0.1 / 1.000004**100_000)
    opt.updates = 10**9
    assert opt.lr() == 1e-6


def test_discriminator_approaches_optimal_d_for_fixed_generator() -> None:
    """Proposition 1: with G fixed, D -> p_data / (p_data + p_g). Here p_data = N(4, 0.5^2) and
    G(z) = 4.5 + 0.7 z with z ~ N(0, 1), so p_g = N(4.5, 0.7^2) is known in closed form."""
    torch.manual_seed(0)
    D = MaxoutDiscriminator(1, [32, 32], 4, irange=0.5, input_keep=1.0, hidden_keep=1.0)
    opt = torch.optim.Adam(D.parameters(), lr=3e-3)
    for _ in range(3000):
        x_real = 4.0 + 0.5 * torch.randn(512, 1)
        x_fake = 4.5 + 0.7 * torch.randn(512, 1)
        logits = D(torch.cat([x_real, x_fake]))
        loss = F.softplus(-logits[:512]).mean() + F.softplus(logits[512:]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    grid = torch.linspace(3.0, 5.5, 51)[:, None]
    p_data = torch.exp(torch.distributions.Normal(4.0, 0.5).log_prob(grid))
    p_g = torch.exp(torch.distributions.Normal(4.5, 0.7).log_prob(grid))
    d_star = (p_data / (p_data + p_g)).squeeze(1)
    with torch.no_grad():
        d = torch.sigmoid(D(grid))
    assert (d - d_star).abs().max() < 0.06, (d - d_star).abs().max()
    assert d_star.max() - d_star.min() > 0.5  # the comparison spans a wide range of D*
