"""The built-in demos (``rnnkit demo``): Shakespeare's plays (``make demo``), the alphabet, and sine waves."""
from ..framework import App, Command
from .recipe import DemoConfig, DemoOptions, demo, run

__all__ = ["DemoConfig", "DemoOptions", "demo", "run", "APP"]

#: the ``rnnkit demo`` command
APP = App("demo", "the quickstart: a Shakespeare character model (or: alphabet, sine)",
          [Command(None, "the quickstart", DemoOptions, demo)])
