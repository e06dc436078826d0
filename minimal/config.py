"""Configuration plumbing shared by every model.

Configs are frozen dataclasses that validate themselves in ``__post_init__`` with the helpers
below; every failure is a one-line :class:`~minimal.errors.ConfigError` naming the field, the value
and the allowed range.  This module also provides

* :func:`to_dict` / :func:`from_dict` and :func:`to_json` / :func:`from_json` for nested configs
  (strict: unknown keys are errors, so a typo never silently falls back to a default);
* :func:`apply_overrides` for dotted ``section.field=value`` overrides (``--set task.B=4``);
* :class:`PresetRegistry`, a table of named configs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import types
import typing
from typing import Any, Callable, Iterable, Mapping

from .errors import ConfigError, ConfigTypeError, UnknownNameError

__all__ = [
    "check_int",
    "check_float",
    "check_bool",
    "check_choice",
    "check_seed",
    "to_dict",
    "from_dict",
    "to_json",
    "from_json",
    "apply_overrides",
    "parse_override",
    "PresetRegistry",
]


# ----------------------------------------------------------------------------------------------
# Validation helpers (called from __post_init__ of frozen dataclasses)
# ----------------------------------------------------------------------------------------------

def range_text(lo, hi, lo_open=False, hi_open=False) -> str:
    """'in [lo, hi]', '≥ lo', ... (the allowed range, without a verb)."""
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '≥'} {lo}"
    if hi is not None:
        return f"{'<' if hi_open else '≤'} {hi}"
    return "any value"


def check_int(name: str, value, lo: int | None = None, hi: int | None = None,
              rule: str | None = None) -> int:
    """Return ``value`` if it is a Python/NumPy integer (not bool) within [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigTypeError(name, value, f"must be an integer {range_text(lo, hi)}"
                              if (lo is not None or hi is not None) else "must be an integer")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(name, value, rule or f"must be {range_text(lo, hi)}")
    return value


def check_float(name: str, value, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, hi_open: bool = False, rule: str | None = None) -> float:
    """Return ``float(value)`` if it is a finite real number within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigTypeError(name, value,
                              f"must be a real number {range_text(lo, hi, lo_open, hi_open)}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(name, value,
                          f"must be a finite number {range_text(lo, hi, lo_open, hi_open)}")
    bad = (lo is not None and (value < lo or (lo_open and value == lo))) or \
          (hi is not None and (value > hi or (hi_open and value == hi)))
    if bad:
        raise ConfigError(name, value, rule or f"must be {range_text(lo, hi, lo_open, hi_open)}")
    return value


def check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ConfigTypeError(name, value, "must be a bool (true or false)")
    return value


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(name, value, f"must be one of {', '.join(choices)}")
    return value


def check_seed(name: str, value) -> int:
    """Seeds are non-negative Python ints (rule V16)."""
    return check_int(name, value, lo=0, rule="seeds must be non-negative integers")


def set_field(obj, name: str, value) -> None:
    """Assign to a frozen dataclass field during ``__post_init__`` normalisation."""
    object.__setattr__(obj, name, value)


# ----------------------------------------------------------------------------------------------
# dict / JSON round trip
# ----------------------------------------------------------------------------------------------

def _is_config(obj) -> bool:
    return dataclasses.is_dataclass(obj) and not isinstance(obj, type)


def to_dict(cfg) -> dict:
    """Nested plain-Python dict of a config dataclass (tuples become lists)."""
    if not _is_config(cfg):
        raise ConfigTypeError("config", type(cfg).__name__, "must be a config dataclass")
    out = {}
    for f in dataclasses.fields(cfg):
        if not f.init:
            continue
        out[f.name] = _plain(getattr(cfg, f.name))
    return out


def _plain(v):
    if _is_config(v):
        return to_dict(v)
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        return float(v)
    return v


def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _unwrap_optional(tp):
    """Return (inner_type, is_optional) for ``X | None`` / ``Optional[X]``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _coerce(tp, value, path: str):
    """Convert a JSON-ish value to the annotated field type (only lossless conversions)."""
    inner, optional = _unwrap_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigTypeError(path, value, "must not be null")
    if dataclasses.is_dataclass(inner) and isinstance(inner, type):
        if _is_config(value) and isinstance(value, inner):
            return value
        if not isinstance(value, Mapping):
            raise ConfigTypeError(path, value, f"must be a mapping of {inner.__name__} fields")
        return from_dict(inner, value, prefix=path)
    origin = typing.get_origin(inner)
    if origin is tuple:
        args = typing.get_args(inner)
        if not isinstance(value, (list, tuple)):
            raise ConfigTypeError(path, value, "must be a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(path, value, f"must have exactly {len(args)} entries")
        return tuple(_coerce(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if inner is float and isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return float(value)
    # everything else is passed through; the dataclass validates types itself
    return value


def from_dict(cls, data: Mapping, prefix: str = ""):
    """Build ``cls`` from a (possibly partial) nested dict; unknown keys raise ConfigError."""
    if not isinstance(data, Mapping):
        raise ConfigTypeError(prefix or cls.__name__, data, "must be a mapping")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(f"{where}{unknown[0]}", data[unknown[0]],
                          f"unknown field of {cls.__name__}; known fields: {', '.join(sorted(names))}")
    kwargs = {}
    for k, v in data.items():
        path = f"{prefix}.{k}" if prefix else k
        kwargs[k] = _coerce(hints[k], v, path)
    try:
        return cls(**kwargs)
    except ConfigError as err:
        if prefix and not err.name.startswith(prefix + "."):
            raise err.with_prefix(prefix) from None
        raise


def to_json(cfg, indent: int | None = 2) -> str:
    return json.dumps(to_dict(cfg), indent=indent, sort_keys=False)


def from_json(cls, text: str):
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(cls.__name__, text[:40], f"is not valid JSON ({exc.msg})") from None
    return from_dict(cls, data)


# ----------------------------------------------------------------------------------------------
# Dotted overrides
# ----------------------------------------------------------------------------------------------

def parse_override(text: str) -> tuple[str, Any]:
    """Split ``'task.B=4'`` into ``('task.B', 4)``; values are parsed as JSON when possible."""
    if "=" not in text:
        raise ConfigError("--set", text, "must look like section.field=value (e.g. task.B=4)")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError("--set", text, "the field name before '=' is empty")
    raw = raw.strip()
    low = raw.lower()
    if low in ("true", "false"):
        return key, low == "true"
    if low in ("none", "null"):
        return key, None
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def apply_overrides(cfg, overrides: Iterable[str | tuple[str, Any]] | Mapping[str, Any]):
    """Return a new config with dotted overrides applied (``'task.B=4'`` or ``('task.B', 4)``).

    The whole result is re-validated, so an override that breaks a cross-field rule is reported
    with its dotted name.
    """
    if isinstance(overrides, Mapping):
        items = list(overrides.items())
    else:
        items = [parse_override(o) if isinstance(o, str) else tuple(o) for o in overrides]
    data = to_dict(cfg)
    for key, value in items:
        parts = key.split(".")
        node = data
        cls = type(cfg)
        for i, part in enumerate(parts):
            names = [f.name for f in dataclasses.fields(cls) if f.init]
            if part not in names:
                where = ".".join(parts[:i]) or cls.__name__
                raise UnknownNameError(
                    f"--set {key}: '{part}' is not a field of {where}; known: {', '.join(names)}")
            tp, _ = _unwrap_optional(_hints(cls)[part])
            if i == len(parts) - 1:
                if dataclasses.is_dataclass(tp) and not isinstance(value, Mapping):
                    raise ConfigError(key, value, f"is a section ({tp.__name__}); set one of its "
                                      "fields, e.g. " + f"{key}.{dataclasses.fields(tp)[0].name}=...")
                node[part] = value
            else:
                if not (dataclasses.is_dataclass(tp) and isinstance(tp, type)):
                    raise UnknownNameError(f"--set {key}: '{part}' is a value, not a section")
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
                cls = tp
    return from_dict(type(cfg), data)


# ----------------------------------------------------------------------------------------------
# Presets
# ----------------------------------------------------------------------------------------------

class PresetRegistry:
    """Named configs: ``registry.get(name)`` returns a fresh config object."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, tuple[Callable[[], Any], str]] = {}

    def register(self, name: str, factory: Callable[[], Any], description: str) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} preset {name!r} registered twice")
        self._items[name] = (factory, description)

    def names(self) -> list[str]:
        return list(self._items)

    def describe(self) -> list[tuple[str, str]]:
        return [(k, d) for k, (_, d) in self._items.items()]

    def get(self, name: str):
        if name not in self._items:
            raise UnknownNameError(
                f"unknown {self.kind} preset {name!r}; available: {', '.join(self._items)}")
        return self._items[name][0]()

    def __contains__(self, name: str) -> bool:
        return name in self._items


# ----------------------------------------------------------------------------------------------
# Seeds
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Seeds:
    """Run seeds.  ``seed`` is the run seed; each purpose may be overridden on its own.

    The four purposes (world, eval, data, init) are independent streams even when they share a
    value: the stream key is derived from (value, purpose) by NumPy's SeedSequence.
    """

    seed: int = 0
    world: int | None = None
    eval: int | None = None
    data: int | None = None
    init: int | None = None

    def __post_init__(self):
        check_seed("seed", self.seed)
        for name in ("world", "eval", "data", "init"):
            v = getattr(self, name)
            if v is not None:
                check_seed(name, v)

    def value(self, purpose: str) -> int:
        """The integer seed used for ``purpose`` (world, eval, data or init)."""
        v = getattr(self, purpose)
        return self.seed if v is None else v

    def key(self, purpose: str) -> int:
        """64-bit base key of the purpose's stream."""
        from ._rng import stream_key
        return stream_key(self.value(purpose), purpose)

    def generator(self, purpose: str):
        """A fresh NumPy Generator for the purpose's stream."""
        from ._rng import generator
        return generator(self.value(purpose), purpose)

    def resolved(self) -> dict:
        return {p: self.value(p) for p in ("world", "eval", "data", "init")}
