"""params.yaml -> frozen, validated config objects.

Stages call :func:`load_params` once and build the typed config they need with
:func:`build`. Every problem stops the stage with a :class:`ConfigError` that
names the full params key and the value received, e.g.::

    train.essen.model.dropout must be in [0, 1), got 1.5
    prepare.essen: unknown key 'acceptable_duration' (did you mean 'acceptable_durations'?)

Config classes are plain frozen dataclasses with type annotations; their
``__post_init__`` raises ``ValueError`` naming the field, and :func:`build`
adds the key prefix. The library never reads params.yaml itself.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from tunesmith.core.errors import ConfigError

T = TypeVar("T")


MAX_PARAMS_NODES = 100_000
"""The most values params.yaml may hold once its aliases are expanded (the default file: about 700)."""


def _expanded_size(node, memo: dict[int, int]) -> int:
    """Nodes of a composed YAML tree with every alias expanded, counted without expanding it."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a node that contains itself counts once: the constructor refuses such a tree
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[id(node)] = size
    return size


MAX_PARAMS_BYTES = 1 << 20
"""The largest params.yaml read (the default file: about 12 KB)."""


def _read_capped(path: Path) -> str:
    """The text of ``path``, refused unread when it is over :data:`MAX_PARAMS_BYTES`."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        data = fh.read(MAX_PARAMS_BYTES + 1)
    if max(size, len(data)) > MAX_PARAMS_BYTES:
        raise ConfigError(f"{path} is {max(size, len(data)):,} bytes (at most {MAX_PARAMS_BYTES:,}): "
                          "refused unread")
    return data.decode("utf-8")


def _refuse_duplicate_keys(root: yaml.Node, path: Path) -> None:
    """A key given twice in one mapping (YAML keeps the last silently; DVC refuses the file): a
    ConfigError naming the key and both lines. Walks the composed tree without recursion."""
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    seen_nodes: set[int] = set()
    while stack:
        node, where = stack.pop()
        if id(node) in seen_nodes:  # an alias: already checked where it was anchored
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            lines: dict[str, int] = {}
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else None
                dotted = f"{where}.{name}" if where else str(name)
                if name is not None and name != "<<":
                    if name in lines:
                        raise ConfigError(f"{path}: key {dotted!r} appears twice (lines {lines[name]} and "
                                          f"{key.start_mark.line + 1}): YAML would keep the last, DVC refuses "
                                          "the file; remove one")
                    lines[name] = key.start_mark.line + 1
                stack.append((value, dotted))


def load_params(path: Path | str = "params.yaml") -> dict[str, Any]:
    """Read params.yaml into a dict; a missing file or bad YAML is a ConfigError of one line.

    Anchors and aliases (``&defaults`` / ``*defaults``) are allowed, but a file whose aliases
    expand to more than :data:`MAX_PARAMS_NODES` values (a "billion laughs") is refused before
    it is expanded. (DVC reads params.yaml too, before tunesmith does, with no such limit.)
    """
    path = Path(path)
    try:
        text = _read_capped(path)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and (size := _expanded_size(node, {})) > MAX_PARAMS_NODES:
            raise ConfigError(f"{path}: its aliases expand to {size:,} values (at most {MAX_PARAMS_NODES:,}): "
                              "refused unexpanded")
        if node is not None:
            _refuse_duplicate_keys(node, path)
        data = yaml.safe_load(text)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path} is not valid YAML{where}: {what}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level, got {type(data).__name__}")
    return data


def section(params: Mapping[str, Any], key: str) -> Any:
    """Return ``params[a][b]...`` for the dotted ``key``, or raise naming the missing part."""
    node: Any = params
    done: list[str] = []
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            where = ".".join(done) or "params.yaml"
            have = sorted(node) if isinstance(node, Mapping) else []
            raise ConfigError(f"{key}: missing key '{part}' in {where} (has: {', '.join(have)})")
        node = node[part]
        done.append(part)
    return node


def build(cls: type[T], data: Any, key: str) -> T:
    """Build the frozen dataclass ``cls`` from ``data``, checking keys, types and values.

    ``key`` is the dotted params.yaml path of ``data``, used in every message.
    Missing keys take the dataclass defaults; unknown keys are errors (a typo
    must never be silently ignored).
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{key} must be a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    for name in data:
        if name not in fields:
            close = difflib.get_close_matches(str(name), list(fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(fields)})"
            raise ConfigError(f"{key}: unknown key '{name}'{hint}")
    kwargs = {
        name: _coerce(hints[name], data[name], f"{key}.{name}")
        for name in fields
        if name in data and fields[name].init
    }
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(f"{key}.{exc}") from exc
    except TypeError as exc:  # a required field with no default was left out
        raise ConfigError(f"{key}: {exc}") from exc


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key} must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: no type fits {value!r}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        item_tp = args[0] if args else Any
        return tuple(_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping, typing.Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        ktp, vtp = args if args else (Any, Any)
        return types.MappingProxyType(
            {_coerce(ktp, k, f"{key}") if ktp is not Any else k: _coerce(vtp, v, f"{key}.{k}")
             for k, v in value.items()}
        )
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported config type {tp!r}")  # a bug in a config class


