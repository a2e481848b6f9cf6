"""Prepared pieces -> symbols, and the split by piece (the encode stage)."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence

import pandas as pd

from tunesmith.config.stages import SPLITS, EncodeConfig, SplitConfig
from tunesmith.core.errors import ArtifactError, MusicInputError
from tunesmith.data.versions import version_groups
from tunesmith.tracks import get_track
from tunesmith.tracks.base import Track

log = logging.getLogger(__name__)



def encode_piece(track: str | Track, piece: dict, cfg: EncodeConfig) -> list[str]:
    """Symbols of one prepared piece, as its track encodes it (see :mod:`tunesmith.tracks`)."""
    return get_track(track).encode(piece, cfg)


def assign_splits(ids: Sequence[str], preset: dict[str, str], ratios: SplitConfig, seed: int,
                  groups: Mapping[str, str] | None = None) -> dict[str, str]:
    """Split pieces (never windows) into train/validation/test.

    When any piece comes with a split (a local corpus with train/valid/test
    folders, as published benchmark sets ship), those splits are kept and a
    piece without one goes to train. Otherwise the groups of versions
    (``groups``: id -> its group's representative, `tunesmith.data.versions`;
    None = every piece alone) are shuffled with ``seed`` and dealt to validation,
    then test, until each holds its ``ratios`` share of the pieces; the rest is
    train. With at least three pieces, validation and test each get at least one
    when their ratio is above zero. A group never straddles two splits.
    """
    if any(preset.get(i) for i in ids):
        return {i: preset.get(i) or "train" for i in ids}
    groups = groups or {i: i for i in ids}
    members: dict[str, list[str]] = {}
    for i in sorted(ids):
        members.setdefault(groups.get(i, i), []).append(i)
    order = sorted(members)
    random.Random(seed).shuffle(order)
    n = len(ids)
    n_val = round(n * ratios.validation)
    n_test = round(n * ratios.test)
    if n >= 3:
        n_val = max(n_val, 1 if ratios.validation > 0 else 0)
        n_test = max(n_test, 1 if ratios.test > 0 else 0)
    n_val = min(n_val, max(n - 1, 0))
    n_test = min(n_test, max(n - 1 - n_val, 0))
    out: dict[str, str] = {}
    counts = {"validation": 0, "test": 0}
    for rep in order:
        split = ("validation" if counts["validation"] < n_val else "test" if counts["test"] < n_test
                 else "train")
        if split != "train":
            counts[split] += len(members[rep])
        out.update(dict.fromkeys(members[rep], split))
    return out


def encode_corpus(track: str | Track, pieces: Sequence[dict], cfg: EncodeConfig
                  ) -> tuple[dict[str, list[dict]], pd.DataFrame, dict]:
    """Encode every piece and split them.

    Returns ``(by_split, rejected, stats)``: ``by_split[split]`` is a list of
    ``{"id", "title", "symbols"}`` sorted by id; ``rejected`` lists pieces the
    representation cannot hold (e.g. a duration that is no whole number of
    ``time_step``), with the reason.
    """
    encoder = get_track(track)
    encoded: dict[str, dict] = {}
    rejected = []
    for line, piece in enumerate(pieces, 1):
        try:
            if not isinstance(piece, dict) or not isinstance(piece.get("id"), str):
                raise TypeError("not an object with a string 'id'")
            symbols = encoder.encode(piece, cfg)
        except MusicInputError as exc:
            rejected.append({"id": piece["id"], "source_file": piece.get("source_file", ""),
                             "reason": exc.reason, "message": str(exc)})
            continue
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # a line prepare did not write (edited by hand, another version's): name it, stop
            name = piece.get("id") if isinstance(piece, dict) else None
            raise ArtifactError(f"pieces.jsonl, line {line} (piece {name!r}) is not a prepared {encoder.name} "
                                f"piece: {type(exc).__name__}: {str(exc)[:120]}") from exc
        if not symbols:
            rejected.append({"id": piece["id"], "source_file": piece.get("source_file", ""),
                             "reason": "empty", "message": "the piece encodes to no symbols"})
            continue
        encoded[piece["id"]] = {"id": piece["id"], "title": piece.get("title", ""), "symbols": symbols}
    preset = {p["id"]: p.get("split", "") for p in pieces if p["id"] in encoded}
    kept = [p for p in pieces if p["id"] in encoded]
    groups = version_groups(kept) if cfg.versions == "group" else {i: i for i in encoded}
    splits = assign_splits(list(encoded), preset, cfg.split, cfg.seed, groups)
    in_train = {groups[i] for i, s in splits.items() if s == "train"}
    by_split: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for piece_id in sorted(encoded):
        by_split[splits[piece_id]].append(encoded[piece_id])
    stats = {
        "pieces": {s: len(v) for s, v in by_split.items()},
        "symbols": {s: sum(len(p["symbols"]) for p in v) for s, v in by_split.items()},
        "rejected": len(rejected),
        "versions_merged": len(groups) - len(set(groups.values())),  # pieces that joined another's group
        "test_near_copies_in_train": sum(1 for i, s in splits.items() if s == "test" and groups[i] in in_train),
    }
    log.info("encode %s: %s pieces, %s symbols, %d rejected", encoder.name, stats["pieces"], stats["symbols"],
             len(rejected))
    return by_split, pd.DataFrame(rejected, columns=["id", "source_file", "reason", "message"]), stats


def check_splits(by_split: dict[str, list[dict]], n_prepared: int, cfg: EncodeConfig, *, where: str) -> None:
    """Stop (ArtifactError, one line) when a split that training or evaluation needs is empty.

    train and validation must hold a piece, and test too unless its share is 0.
    ``where`` is the params key named in the message (``encode.essen``).
    """
    from tunesmith.core.errors import ArtifactError

    counts = {s: len(by_split[s]) for s in SPLITS}
    needed = [s for s in SPLITS if s in ("train", "validation") or cfg.split.test > 0]
    empty = [s for s in needed if counts[s] == 0]
    if empty:
        n = sum(counts.values())
        raise ArtifactError(
            f"{where}: the {' and '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty "
            f"({n} of {n_prepared} prepared pieces encoded: {counts}); at least 3 pieces are needed, "
            f"and with preset train/valid/test folders each must hold one"
        )


