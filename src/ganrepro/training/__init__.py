"""Algorithm 1: optimizers, the training step (reference and fast path), the loop, the plan."""
