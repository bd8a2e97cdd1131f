"""The built-in demo: a small LSTM learns to continue sine waves, with no data to download."""
from .recipe import DemoConfig, run

__all__ = ["DemoConfig", "run"]
