"""Applications built on the public rnnkit API: the app framework (:mod:`.framework`) and one folder per app.

Each app is a config (a dataclass of :func:`~rnnkit.apps.framework.setting`
fields), a recipe (the hooks of :func:`~rnnkit.apps.framework.train_run`) and its
data module; its ``APP`` lists its commands, from which ``rnnkit`` builds its
command line (:func:`apps`).
"""
from __future__ import annotations

import importlib

from .framework import App, AppConfig, Command, Recipe, setting, train_run

__all__ = ["apps", "App", "AppConfig", "Command", "Recipe", "setting", "train_run"]

# (module, attribute) of every app the ``rnnkit`` command offers, in the order of its help
_APPS = [("demo", "APP"), ("textgen", "APP"), ("textgen", "LM_APP"), ("classify", "APP"), ("forecast", "APP"),
         ("translate", "APP"), ("speech", "APP")]


def apps() -> list[App]:
    """Every app of the ``rnnkit`` command.

    >>> [app.name for app in apps()]
    ['demo', 'textgen', 'lm', 'classify', 'forecast', 'translate', 'speech']
    """
    return [getattr(importlib.import_module(f"{__name__}.{module}"), name) for module, name in _APPS]
