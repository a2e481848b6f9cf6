"""JSON from a folder tunesmith may not have written (someone's model folder, a checkpoint), read
with limits, and the checks of its fields.

`read_json_bounded` refuses before reading a file larger than its cap or one that is not a regular
file (a symlink is followed, as DVC's ``symlink`` cache links need, but the size checked is the
target's, so a link to a 6 GB sparse file is refused unread); it parses with a nesting limit
(a cheap scan before ``json.loads``), a digit limit on integers, and ``NaN``/``Infinity``/``1e999``
refused unless the caller allows them. The ``need_*`` checks raise an `ArtifactError` of one line
naming the file and the field. Every message is one line; values are shown with ``repr`` (control
characters escaped) and cut short.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.core.errors import ArtifactError, MissingArtifactError, one_line

MAX_JSON_BYTES = {
    "vocab.json": 16 << 20,
    "config.json": 1 << 20,
    "cache.json": 1 << 20,
    "state.json": 4 << 20,
    "metrics.json": 16 << 20,
    "seeds.json": 16 << 20,
}
"""The largest file of each name read (tunesmith's own: a few KB, the largest vocab.json
about 100 KB; state.json grows by about 200 bytes an epoch)."""
DEFAULT_MAX_BYTES = 16 << 20
NUMBERS = ("NaN", "Infinity", "-Infinity")
"""What ``allow`` takes for a file whose figures may be NaN or infinite (metrics of a diverged run)."""
MAX_DEPTH = 64
"""The deepest nesting of lists and objects read (tunesmith writes at most 5)."""
MAX_INT_DIGITS = 64
"""The longest integer read, in digits (tunesmith's are 64-bit at most)."""
MAX_LINE_BYTES = 16 << 20
"""The longest line of a JSON-lines file read (one sample, one piece)."""

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


class _Refused(ValueError):
    """A number the caller does not accept (raised from inside json.loads' hooks)."""


def nesting_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in JSON ``text``, strings skipped: linear, no recursion."""
    raw = np.frombuffer(_STRING.sub("", text).encode("utf-8", "surrogatepass"), dtype=np.uint8)
    opens = (raw == ord("[")) | (raw == ord("{"))
    where = np.flatnonzero(opens | (raw == ord("]")) | (raw == ord("}")))
    if where.size == 0:
        return 0
    return int(np.cumsum(np.where(opens[where], 1, -1).astype(np.int32)).max())


def parse_json_bounded(data: bytes | str, where: str, *, allow: Collection[str] = ()) -> Any:
    """``data`` parsed as JSON with :data:`MAX_DEPTH` and :data:`MAX_INT_DIGITS` limits; ``NaN``,
    ``Infinity``, ``-Infinity`` (and floats that overflow to them) only where ``allow`` names them.

    Raises:
        ArtifactError: one line starting with ``where`` (the file, or the file and line).
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{where} is not UTF-8 text (byte {exc.start}): not a JSON file") from exc
    if not text.strip():
        raise ArtifactError(f"{where} is empty: an interrupted write? Rerun the stage that writes it")
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        raise ArtifactError(f"{where} nests lists or objects {depth:,} deep (at most {MAX_DEPTH}): "
                            "not a file tunesmith wrote")

    def constant(name: str) -> float:
        if name not in allow:
            raise _Refused(f"holds {name}, which is not a number it may hold")
        return float(name)

    def number(s: str) -> float:
        value = float(s)
        if not math.isfinite(value) and ("Infinity" if value > 0 else "-Infinity") not in allow:
            raise _Refused(f"holds {s[:40]}, a number too large for a float")
        return value

    def integer(s: str) -> int:
        if len(s.lstrip("-")) > MAX_INT_DIGITS:
            raise _Refused(f"holds an integer of {len(s.lstrip('-')):,} digits (at most {MAX_INT_DIGITS})")
        return int(s)

    try:
        return json.loads(text, parse_constant=constant, parse_float=number, parse_int=integer)
    except _Refused as exc:
        raise ArtifactError(f"{where} {exc}: not a file tunesmith wrote") from exc
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{where} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): "
                            "truncated or edited? Rerun the stage that writes it") from exc
    except RecursionError as exc:  # the scan above makes this unreachable; kept as a guard
        raise ArtifactError(f"{where} nests too deep: not a file tunesmith wrote") from exc
    except ValueError as exc:  # e.g. Python's own limit on integer digits
        raise ArtifactError(f"{where} cannot be read as JSON: {one_line(exc, 160)}") from exc


def open_bounded(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, refused unread when it is larger than ``max_bytes``.

    Raises:
        MissingArtifactError: not there. ArtifactError: a folder, not a regular file, or too large.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError as exc:
        raise MissingArtifactError(f"{path} not found") from exc
    except OSError as exc:
        raise ArtifactError(f"{path} cannot be read: {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ArtifactError(f"{path} is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise ArtifactError(f"{path} is not a regular file (a device, pipe or socket): refused unread")
        if info.st_size > max_bytes:
            raise ArtifactError(f"{path} is {info.st_size:,} bytes (at most {max_bytes:,} expected): "
                                "not a file tunesmith wrote; refused unread")
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # it grew while being read
        raise ArtifactError(f"{path} is over {max_bytes:,} bytes: refused")
    return data


def read_json_bounded(path: Path | str, max_bytes: int | None = None, *, allow: Collection[str] = ()) -> Any:
    """A JSON file read with limits: ``max_bytes`` (default: :data:`MAX_JSON_BYTES` by the file's
    name) checked before reading, then :func:`parse_json_bounded`.

    Raises:
        MissingArtifactError / ArtifactError: one line naming the file.
    """
    path = Path(path)
    cap = max_bytes if max_bytes is not None else MAX_JSON_BYTES.get(path.name, DEFAULT_MAX_BYTES)
    return parse_json_bounded(open_bounded(path, cap), str(path), allow=allow)


# --------------------------------------------------------------------------- field checks


def got(value: Any) -> str:
    """``value`` as an error message shows it: its repr (control characters escaped), one line, cut short."""
    return one_line(repr(value), 60)


def _field(field: str) -> str:
    return printable(field[:80], keep_newlines=False)


def need_mapping(value: Any, where: str, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ArtifactError(f"{where}: {_field(field)} must be an object, got {got(value)}")
    return value


def need_int(value: Any, where: str, field: str, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ArtifactError(f"{where}: {_field(field)} must be an integer in [{low:,}, {high:,}], got {got(value)}")
    return value


def need_number(value: Any, where: str, field: str, low: float = -math.inf, high: float = math.inf, *,
                finite: bool = True) -> float:
    """``value`` as a float in ``[low, high]``; finite unless ``finite`` is False (NaN then allowed)."""
    ok = not isinstance(value, bool) and isinstance(value, int | float)
    if ok and math.isfinite(value):
        ok = low <= value <= high
    elif ok:
        ok = not finite
    if not ok:
        kind = "a finite number" if finite else "a number"
        bounds = "" if (low, high) == (-math.inf, math.inf) else f" in [{low}, {high}]"
        raise ArtifactError(f"{where}: {_field(field)} must be {kind}{bounds}, got {got(value)}")
    return float(value)


def need_str(value: Any, where: str, field: str, max_len: int = 1000, *, optional: bool = False) -> str | None:
    if optional and value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise ArtifactError(f"{where}: {_field(field)} must be a string of at most {max_len} characters, "
                            f"got {got(value)}")
    return value


def need_bool(value: Any, where: str, field: str) -> bool:
    if not isinstance(value, bool):
        raise ArtifactError(f"{where}: {_field(field)} must be true or false, got {got(value)}")
    return value


_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: object, *, keep_newlines: bool = True) -> str:
    """``text`` safe to print to a terminal: C0 and C1 control characters (ESC, BEL, CR, ...) and
    bidirectional overrides escaped as ``\\x1b``/``\\u202e``; tabs kept, newlines kept unless
    ``keep_newlines`` is False."""
    out = _CONTROLS.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))
    return out if keep_newlines else out.replace("\n", "\\n")
