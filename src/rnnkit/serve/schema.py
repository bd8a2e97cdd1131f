"""A request dataclass (an app's :class:`~rnnkit.apps.framework.Service` ``request``) as a pydantic model,
and pydantic's complaints as one line naming the field.

The fields are declared once, with :func:`~rnnkit.apps.framework.setting`
(type, default, help, bounds, choices); here they become the route's schema
(``/openapi.json``, ``/docs``) and its first check.  JSON bodies are checked
strictly: ``"5"`` is not a number, ``true`` is not ``1``, unknown fields are
refused, NaN and infinities too.  Form fields (beside an uploaded file) arrive as
text and are read leniently.  The dataclass itself checks again when built (its
``validate``: rules between fields).
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from ..apps.framework import setting_rules

__all__ = ["request_model", "error_text", "field_path"]


def request_model(cls: type, name: str, *, strict: bool = True, skip: tuple[str, ...] = ()) -> type[BaseModel]:
    """The pydantic model of settings dataclass ``cls`` (the fields in ``skip`` left out)."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        rules = setting_rules(f)
        hint = hints[f.name]
        if rules.choices:
            hint = Literal[tuple(rules.choices)]  # type: ignore[misc]
        base = typing.get_origin(hint) or hint
        optional = type(None) in typing.get_args(hint)
        if optional:
            base = next(a for a in typing.get_args(hint) if a is not type(None))
            base = typing.get_origin(base) or base
        bounds: dict[str, Any] = {}
        if base is list:
            bounds = {"min_length": rules.min, "max_length": rules.max}
        elif base in (int, float):
            bounds = {"ge": rules.min, "le": rules.max, "gt": rules.gt, "lt": rules.lt}
        hint = _json_tuples(hint)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        fields[f.name] = (hint, Field(default, description=rules.help or None,
                                      **{k: v for k, v in bounds.items() if v is not None}))
    config = ConfigDict(strict=strict, extra="forbid", allow_inf_nan=False, title=name)
    return create_model(name, __config__=config, **fields)


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _json_tuples(hint: Any) -> Any:
    """``hint`` with each ``tuple[...]`` taking a JSON array (strict mode takes only a Python tuple), items still strict."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        return Annotated[tuple[tuple(_json_tuples(a) for a in args)], BeforeValidator(_as_tuple)]  # type: ignore[misc]
    if origin is list and args:
        return list[_json_tuples(args[0])]  # type: ignore[misc]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType")) and args:
        return typing.Union[tuple(_json_tuples(a) for a in args)]  # type: ignore[misc]
    return hint


def field_path(loc: typing.Sequence[Any]) -> str:
    """``('body', 'texts', 3)`` -> ``'`texts`[3]'``: how a message names the field (the request's parts dropped)."""
    parts = [p for p in loc if p not in ("body", "query", "path", "header", "form")]
    if not parts:
        return "the body"
    text = f"`{parts[0]}`"
    for p in parts[1:]:
        text += f"[{p}]" if isinstance(p, int) else f".{p}"
    return text


def error_text(errors: typing.Sequence[dict[str, Any]]) -> tuple[int, str]:
    """(status, one line) for pydantic/FastAPI validation ``errors``: 400 for malformed JSON, else 422."""
    first = errors[0]
    kind = first.get("type", "")
    if kind == "json_invalid":
        where = first.get("loc", ())
        detail = (first.get("ctx") or {}).get("error", "not JSON")
        at = f" at character {where[-1]}" if where and isinstance(where[-1], int) else ""
        return 400, f"malformed JSON{at}: {detail}; send a JSON object"
    field = field_path(first.get("loc", ()))
    if kind == "missing":
        message = "the request needs a JSON body" if field == "the body" else f"{field} is required"
    elif kind == "extra_forbidden":
        message = f"{field} is not a field of this model's requests"
    elif kind == "model_attributes_type" or (field == "the body" and kind.endswith("_type")):
        message = "the body must be a JSON object (Content-Type: application/json)"
    else:
        message = f"{field}: {first.get('msg', 'invalid')}"
        if "input" in first and not isinstance(first["input"], (dict, list)):
            message += f", got {first['input']!r}"[:200]
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return 422, message + more
