"""The paper's numbers that the reproduction compares against: one table, one place.

Source: Goodfellow et al., "Generative Adversarial Nets", NIPS 2014 (arXiv:1406.2661), Table 1
(transcribed in shared/PAPER.md); the Parzen protocol from the authors' parzen_ll.py
(goodfeli/adversarial).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SOURCE = 'Goodfellow et al. (2014), "Generative Adversarial Nets", NIPS, arXiv:1406.2661, Table 1'


@dataclass(frozen=True)
class PaperScore:
    """One cell of the paper's Table 1: mean test log-likelihood (nats) and its ± as printed."""

    model: str
    dataset: str
    log_likelihood: float
    error: float


# Table 1: Parzen window-based log-likelihood estimates; MNIST on the test set, TFD over the folds.
TABLE1: tuple[PaperScore, ...] = (
    PaperScore("DBN", "mnist", 138, 2),
    PaperScore("Stacked CAE", "mnist", 121, 1.6),
    PaperScore("Deep GSN", "mnist", 214, 1.1),
    PaperScore("Adversarial nets", "mnist", 225, 2),
    PaperScore("DBN", "tfd", 1909, 66),
    PaperScore("Stacked CAE", "tfd", 2110, 50),
    PaperScore("Deep GSN", "tfd", 1890, 29),
    PaperScore("Adversarial nets", "tfd", 2057, 26),
)

# The Parzen protocol (parzen_ll.py defaults): 10,000 samples, sigma from logspace(-1, 0, 10)
# chosen on the first 1,000 validation examples.
PARZEN_SIGMA_LOG10 = (-1.0, 0.0, 10)
PARZEN_VALID_LIMIT = 1000


def paper_grid(min_log10: float = PARZEN_SIGMA_LOG10[0], max_log10: float = PARZEN_SIGMA_LOG10[1],
               num: int = PARZEN_SIGMA_LOG10[2]) -> list[float]:
    """The authors' sigma grid, logspace(min, max, num) (default -1, 0, 10)."""
    return np.logspace(min_log10, max_log10, num).tolist()
