"""Published numbers the reproduction compares against, and the Parzen protocol: one table, one place.

Sources: Goodfellow et al., "Generative Adversarial Nets", NIPS 2014 (arXiv:1406.2661), Table 1; the
later MNIST figures under the same protocol from their papers' tables (all transcribed in
shared/PAPER.md); the Parzen protocol from the authors' parzen_ll.py (goodfeli/adversarial).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SOURCE = 'Goodfellow et al. (2014), "Generative Adversarial Nets", NIPS, arXiv:1406.2661, Table 1'
LI_2015 = 'Li, Swersky and Zemel (2015), "Generative Moment Matching Networks", ICML'
MAKHZANI_2015 = 'Makhzani et al. (2015), "Adversarial Autoencoders", arXiv:1511.05644'
MIRZA_2014 = 'Mirza and Osindero (2014), "Conditional Generative Adversarial Nets", arXiv:1411.1784'
GAN_MODEL = "Adversarial nets"


@dataclass(frozen=True)
class PaperScore:
    """One published mean test log-likelihood (nats) under the Parzen protocol, with its ± as printed."""

    model: str
    dataset: str
    log_likelihood: float
    error: float
    source: str = SOURCE


# Every published Parzen score the project quotes. MNIST on the test set, TFD over the folds.
PUBLISHED: tuple[PaperScore, ...] = (
    PaperScore("DBN", "mnist", 138, 2),
    PaperScore("Stacked CAE", "mnist", 121, 1.6),
    PaperScore("Deep GSN", "mnist", 214, 1.1),
    PaperScore(GAN_MODEL, "mnist", 225, 2),
    PaperScore("DBN", "tfd", 1909, 66),
    PaperScore("Stacked CAE", "tfd", 2110, 50),
    PaperScore("Deep GSN", "tfd", 1890, 29),
    PaperScore(GAN_MODEL, "tfd", 2057, 26),
    PaperScore("GMMN + AE", "mnist", 282, 2, LI_2015),
    PaperScore("Adversarial autoencoder", "mnist", 340, 2, MAKHZANI_2015),
    PaperScore("Conditional adversarial net", "mnist", 132, 1.8, MIRZA_2014),
)
# Table 1 of the paper: the rows it printed.
TABLE1: tuple[PaperScore, ...] = tuple(p for p in PUBLISHED if p.source == SOURCE)

# The Parzen protocol (parzen_ll.py defaults): 10,000 samples, sigma from logspace(-1, 0, 10)
# chosen on the first 1,000 validation examples, every test example scored.
PARZEN_SAMPLES = 10000
PARZEN_SIGMA_LOG10 = (-1.0, 0.0, 10)
PARZEN_VALID_LIMIT = 1000
WHOLE_VALID_FOLD = ("tfd",)  # datasets whose whole validation fold chooses sigma in the authors' script


def paper_grid(
    min_log10: float = PARZEN_SIGMA_LOG10[0], max_log10: float = PARZEN_SIGMA_LOG10[1], num: int = PARZEN_SIGMA_LOG10[2]
) -> list[float]:
    """The authors' sigma grid, logspace(min, max, num) (default -1, 0, 10)."""
    return np.logspace(min_log10, max_log10, num).tolist()


def paper_gan_score(dataset: str) -> PaperScore | None:
    """The paper's adversarial-nets score on `dataset` (None where the paper gives none)."""
    return next((p for p in TABLE1 if p.model == GAN_MODEL and p.dataset == dataset), None)


SALIMANS_2016 = 'Salimans et al. (2016), "Improved Techniques for Training GANs", NeurIPS'


@dataclass(frozen=True)
class SemiSupervisedScore:
    """A published semi-supervised MNIST result: test errors out of 10,000, mean ± SD over label subsets."""

    model: str
    labels: int
    errors: float
    sd: float
    subsets: int
    source: str


# Extension 4's usual yardstick (quoted, not measured): a GAN trained for semi-supervised learning
# (its D classifies too), not the features of a GAN trained only to generate.
SEMI_SUPERVISED = SemiSupervisedScore("Feature-matching GAN, D as classifier", 100, 93, 6.5, 10, SALIMANS_2016)
