"""Applications built on the public rnnkit API: the app framework (:mod:`.framework`) and one folder per app.

Each app is a config (a dataclass of :func:`~rnnkit.apps.framework.setting`
fields), a recipe (the hooks of :func:`~rnnkit.apps.framework.train_run`) and its
data module; its ``APP`` lists its commands, from which ``rnnkit`` builds its
command line (:func:`apps`).  :func:`recipe_for` finds the recipe that wrote a run
folder (``rnnkit report`` asks it for the app's own report sections), and
:func:`service_for` how to answer requests to it (``rnnkit serve``: each app's
``serve.py`` module returns a :class:`~rnnkit.apps.framework.Service`).
"""
from __future__ import annotations

import importlib

from pathlib import Path

from .framework import App, AppConfig, Command, Recipe, ReportSection, Service, setting, train_run

__all__ = ["apps", "recipe_for", "service_for", "App", "AppConfig", "Command", "Recipe", "ReportSection", "Service",
           "setting", "train_run"]

# (module, attribute) of every app the ``rnnkit`` command offers, in the order of its help
_APPS = [("demo", "APP"), ("textgen", "APP"), ("textgen", "LM_APP"), ("classify", "APP"), ("forecast", "APP"),
         ("translate", "APP"), ("speech", "APP")]
# the apps that train into run folders: each module's ``recipe.RECIPE`` (its ``name`` is the run's ``app``)
_RECIPES = ("textgen", "classify", "forecast", "translate", "speech")


def apps() -> list[App]:
    """Every app of the ``rnnkit`` command.

    >>> [app.name for app in apps()]
    ['demo', 'textgen', 'lm', 'classify', 'forecast', 'translate', 'speech']
    """
    return [getattr(importlib.import_module(f"{__name__}.{module}"), name) for module, name in _APPS]


def recipe_for(app: str) -> Recipe | None:
    """The :class:`Recipe` of the app named in a run folder's ``config.json``; None for an app rnnkit does not know.

    >>> recipe_for("classify").history_plot, recipe_for("nonesuch")
    ('training.png', None)
    """
    if app not in _RECIPES:
        return None
    return importlib.import_module(f"{__name__}.{app}.recipe").RECIPE


def service_for(app: str, run: str | Path) -> Service | None:
    """How ``rnnkit serve`` answers requests to run folder ``run`` of app ``app`` (its model loaded once, here);
    None for an app rnnkit does not know.  Each app's ``serve.service(run)`` (:class:`Service`)."""
    if app not in _RECIPES:
        return None
    return importlib.import_module(f"{__name__}.{app}.serve").service(Path(run))
