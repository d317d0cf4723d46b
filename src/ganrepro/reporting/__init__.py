"""Figures, Table 1 and the HTML report."""
