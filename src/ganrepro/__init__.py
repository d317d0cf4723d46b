"""Reproduction of "Generative Adversarial Nets" (Goodfellow et al., 2014)."""

__version__ = "0.1.0"
