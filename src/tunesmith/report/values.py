"""Turning metric values into text: numbers formatted, nested dicts flattened, which
direction is better, which dicts are histograms, which rows are baselines."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

_LOWER_BETTER = ("nll", "cross_entropy", "crossentropy", "loss", "bits", "perplexity", "entropy")
_HIGHER_BETTER = ("accuracy", "acc")
NGRAM = re.compile(r"kn|gram|markov", re.IGNORECASE)
"""A baseline whose name matches is an n-gram model (the headline compares with the best one)."""


def slug(text: str) -> str:
    """An id and file-name part: letters, digits, ``_ . -``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-") or "corpus"




def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if value.is_integer() and abs(value) >= 1000:
            return f"{value:,.0f}"  # 49,020 tokens, not 4.902e+04
        if abs(value) >= 1e5:
            return f"{value:,.0f}"
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.1e}"
        return f"{value:,.4g}" if abs(value) >= 1 else f"{value:.4f}"
    if isinstance(value, (list, tuple)):
        shown = ", ".join(fmt(v) for v in value[:12])
        return f"[{shown}{', …' if len(value) > 12 else ''}]"
    return str(value)


def short(text: str, limit: int = 40) -> str:
    # a primer can be a whole ABC header: a tag shows its start
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def direction(column: str) -> int:
    """-1 lower is better, +1 higher is better, 0 unknown."""
    name = column.lower()
    if any(k in name for k in _HIGHER_BETTER):
        return 1
    if any(k in name for k in _LOWER_BETTER):
        return -1
    return 0


def is_histogram(node: Any) -> bool:
    if not isinstance(node, Mapping):
        return False
    gen, real = node.get("generated"), node.get("real")
    return (
        isinstance(gen, (list, tuple))
        and isinstance(real, (list, tuple))
        and len(gen) == len(real) > 0
        and all(is_number(v) for v in gen)
        and all(is_number(v) for v in real)
    )


def baseline_rows(baselines: Any) -> list[tuple[str, Mapping[str, Any]]]:
    if isinstance(baselines, Mapping):
        return [(str(k), v) for k, v in baselines.items() if isinstance(v, Mapping)]
    if isinstance(baselines, Sequence) and not isinstance(baselines, str):
        return [
            (str(b.get("name", f"baseline {i}")), b)
            for i, b in enumerate(baselines)
            if isinstance(b, Mapping)
        ]
    return []


def flatten(
    node: Any, prefix: str, out: list[tuple[str, Any]], hists: list[tuple[str, Mapping[str, Any]]]
) -> None:
    if is_histogram(node):
        hists.append((prefix, node))
        extra = {k: v for k, v in node.items() if k not in ("generated", "real", "labels")}
        for k, v in extra.items():
            flatten(v, f"{prefix}.{k}", out, hists)
    elif isinstance(node, Mapping):
        for k, v in node.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out, hists)
    else:
        out.append((prefix, node))

