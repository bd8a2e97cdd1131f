"""The built-in demos (``rnnkit demo``): Shakespeare's plays (``make demo``), the alphabet, sine waves, and the
vanishing gradient (SimpleRNN, GRU and LSTM on the adding problem: :mod:`.vanishing`)."""
from ..framework import App, Command
from .recipe import DemoConfig, DemoOptions, demo, run
from .vanishing import VanishingConfig, vanishing

__all__ = ["DemoConfig", "DemoOptions", "demo", "run", "VanishingConfig", "vanishing", "APP"]

#: the ``rnnkit demo`` command
APP = App("demo", "the quickstart: a Shakespeare character model (or: alphabet, sine, vanishing)",
          [Command(None, "the quickstart", DemoOptions, demo)])
