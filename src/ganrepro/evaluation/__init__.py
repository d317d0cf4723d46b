"""Samples, Parzen protocol, reference rows, inference net, classifier metrics, toy metrics."""
