"""Datasets: fetching with checksums, the paper's splits, toy and custom sets."""
