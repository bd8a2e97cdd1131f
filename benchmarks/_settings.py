"""The ``--set NAME=VALUE`` options of the benchmark scripts: app settings changed for a measurement."""
from __future__ import annotations

import json
from typing import Any, Iterable


def parse_settings(items: Iterable[str]) -> dict[str, Any]:
    """``["lm-epochs=3", "unfreeze=gradual"]`` -> ``{"lm_epochs": 3, "unfreeze": "gradual"}``.

    A value is read as JSON where it is JSON (numbers, true/false, lists), else kept as the string.

    >>> parse_settings(["lm-epochs=3", "unfreeze=gradual", "speeds=[0.9, 1.1]"])
    {'lm_epochs': 3, 'unfreeze': 'gradual', 'speeds': [0.9, 1.1]}
    """
    settings: dict[str, Any] = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            settings[name.replace("-", "_")] = json.loads(value)
        except ValueError:
            settings[name.replace("-", "_")] = value
    return settings
