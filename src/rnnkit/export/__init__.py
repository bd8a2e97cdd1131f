"""Export to ONNX, and its check: ``rnnkit export --run RUN --format onnx [--out model.onnx]``.

A run folder (or a built :class:`~rnnkit.models.Sequential`) becomes ``model.onnx``
with dynamic batch and time axes, ``step.onnx`` for text generation (the state as
explicit inputs and outputs) and ``model.json`` beside them (inputs, outputs,
padding, the run's vocabulary / classes / scaler / feature settings), checked
against PyTorch with ONNX Runtime before anything is written (:mod:`.onnx`).
Recurrent layers become ONNX's own LSTM/GRU/RNN operators (:mod:`.ops`) through
export forms of the layers (:mod:`.forms`); a layer with no form is an
:class:`~rnnkit.errors.ExportError` naming it and why.  Needs the ``[onnx]`` extra
(``onnx``, ``onnxruntime``), imported only when exporting.

From Python: :func:`export_onnx`, or :func:`export_command` with :class:`ExportOptions`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..apps.framework import App, AppConfig, Command, setting
from ..errors import ConfigError
from .onnx import FORMAT, OPSET, TOLERANCE, check_onnx, export_onnx

__all__ = ["export_onnx", "check_onnx", "ExportOptions", "export_command", "APP", "FORMAT", "OPSET", "TOLERANCE"]

FORMATS = ("onnx",)


@dataclass
class ExportOptions(AppConfig):
    """The options of ``rnnkit export``.

    >>> ExportOptions(run="runs/a", format="tflite")
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: `format` must be one of onnx, got 'tflite'
    """

    run: str | None = setting(None, help="the run folder to export")
    format: str = setting("onnx", help="the format: onnx (ONNX Runtime and any ONNX runtime)")
    out: str | None = setting(None, help="the .onnx file to write (default RUN/onnx/model.onnx); model.json "
                                         "(and step.onnx for textgen) go beside it")
    no_check: bool = setting(False, help="skip comparing ONNX Runtime with PyTorch before writing")

    def validate(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(f"{self.option('format')} must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if not self.run:
            raise ConfigError(f"nothing to export: give {self.option('run')} RUN, a folder an app trained into")


def export_command(options: ExportOptions, print_fn: Callable[[str], None] = print) -> Path:
    """``rnnkit export``: write the ONNX files and model.json, say where they are."""
    return export_onnx(options.run, options.out, check=not options.no_check, print_fn=print_fn)


#: the ``rnnkit export`` command
APP = App("export", "export a run's model to ONNX (model.onnx, model.json; step.onnx for textgen)",
          [Command(None, "export the model", ExportOptions, export_command,
                   description="Writes the whole model as ONNX with dynamic batch and time axes, checked against "
                               "PyTorch with ONNX Runtime, and model.json (inputs, padding, preprocessing) beside it.")])
