"""The paper's networks and model files."""
