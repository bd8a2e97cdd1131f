"""The built-in demos (``rnnkit demo``): Shakespeare's plays (``make demo``), the alphabet, sine waves, the
vanishing gradient (SimpleRNN, GRU and LSTM on the adding problem: :mod:`.vanishing`), and MNIST or Fashion-MNIST
read row by row by an LSTM beside a small CNN (:mod:`.mnist`)."""
from ..framework import App, Command
from .recipe import DemoConfig, DemoOptions, demo, run
from .mnist import MnistConfig, mnist
from .vanishing import VanishingConfig, vanishing

__all__ = ["DemoConfig", "DemoOptions", "demo", "run", "VanishingConfig", "vanishing", "MnistConfig", "mnist", "APP"]

#: the ``rnnkit demo`` command
APP = App("demo", "the quickstart: a Shakespeare character model (or: alphabet, sine, vanishing, mnist, fashion-mnist)",
          [Command(None, "the quickstart", DemoOptions, demo)])
