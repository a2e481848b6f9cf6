"""Versions of one piece go to one split.

A folder of music often holds one tune several times: as melody and as melody with chords (the
same file name in two folders), in two keys, or copied between collections. Split piece by piece,
a test tune would have its twin in training and the test likelihood would measure memory. Two
pieces are versions of one another when

* their files have the same name in different folders (``melody/t12.mid``, ``chords/t12.mid``), or
* their melodies share most of their interval 8-grams (at least :data:`SHARED` of the shorter
  one's, so the same tune transposed, re-barred or with a few notes changed): the melody is the
  pitch line (the top note of each onset for piano music; ABC's note letters as diatonic steps),
  and intervals make it transposition-invariant.

:func:`version_groups` joins them (union-find); :func:`near_copies` counts the test pieces that
still have a near-copy in training (a corpus's own train/test folders are kept as they are).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import PurePosixPath
from typing import Any

NGRAM = 8
"""Intervals per gram."""
SHARED = 0.8
"""Share of the shorter melody's grams two versions have in common."""
MIN_GRAMS = 4
"""Melodies shorter than this many grams are compared by their file names only."""

_ABC_NOTE = re.compile(r"([\^_=]*)([A-Ga-g])([',]*)")
_ABC_HEADER = re.compile(r"^[A-Za-z+]:.*$", re.M)
_ABC_QUOTED = re.compile(r'"[^"]*"|![^!]*!|\[[A-Za-z]:[^\]]*\]')


def pitch_line(piece: Mapping[str, Any]) -> list[int]:
    """The melody of a prepared piece as numbers whose differences are its intervals: MIDI
    pitches (``events``: essen; ``notes``: the highest note of each onset) or, for ABC text,
    diatonic steps (C = 0, D = 1, ... c = 7; accidentals ignored)."""
    if isinstance(piece.get("events"), list):
        return [int(p) for p, _ in piece["events"] if p is not None]
    if isinstance(piece.get("notes"), list):
        top: dict[float, int] = {}
        for pitch, start, _end in piece["notes"]:
            top[float(start)] = max(int(pitch), top.get(float(start), -1))
        return [top[t] for t in sorted(top)]
    if isinstance(piece.get("abc"), str):
        body = _ABC_QUOTED.sub(" ", _ABC_HEADER.sub(" ", piece["abc"]))
        steps = []
        for _acc, letter, octave in _ABC_NOTE.findall(body):
            step = "CDEFGAB".index(letter.upper()) + (7 if letter.islower() else 0)
            steps.append(step + 7 * octave.count("'") - 7 * octave.count(","))
        return steps
    return []


def _grams(line: Sequence[int]) -> set[tuple[int, ...]]:
    steps = [b - a for a, b in pairwise(line)]
    return {tuple(steps[i:i + NGRAM]) for i in range(len(steps) - NGRAM + 1)}


def _name(piece: Mapping[str, Any]) -> tuple[str, str]:
    """(folder, normalised file name) of the file a piece came from."""
    path = PurePosixPath(str(piece.get("source_file") or piece.get("id", "")))
    return str(path.parent), re.sub(r"[^a-z0-9]+", "", path.stem.lower())


class _Union:
    def __init__(self, items: Sequence[str]) -> None:
        self.parent = {i: i for i in items}

    def find(self, i: str) -> str:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _similar_pairs(grams: Mapping[str, set]) -> list[tuple[str, str]]:
    """Pairs of pieces sharing at least :data:`SHARED` of the shorter one's grams (an index of the
    grams finds the candidates, so this is linear in the corpus, not quadratic)."""
    index: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for piece_id, gs in grams.items():
        for g in gs:
            index[g].append(piece_id)
    shared: dict[tuple[str, str], int] = defaultdict(int)
    for holders in index.values():
        if 1 < len(holders) <= 50:  # a gram in very many pieces (a scale run) says nothing
            for i, a in enumerate(holders):
                for b in holders[i + 1:]:
                    shared[(a, b) if a < b else (b, a)] += 1
    return [(a, b) for (a, b), n in shared.items() if n >= SHARED * min(len(grams[a]), len(grams[b]))]


def version_groups(pieces: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Each piece id -> its group's representative (the smallest id of its versions)."""
    ids = [str(p["id"]) for p in pieces]
    union = _Union(ids)
    folders: dict[str, set[str]] = defaultdict(set)
    by_name: dict[str, list[str]] = defaultdict(list)
    for p in pieces:
        folder, name = _name(p)
        folders[name].add(folder)
        by_name[name].append(str(p["id"]))
    for name, members in by_name.items():
        if name and len(folders[name]) > 1:  # the same file name in two folders: one tune twice
            for other in members[1:]:
                union.join(members[0], other)
    grams = {str(p["id"]): g for p in pieces if len(g := _grams(pitch_line(p))) >= MIN_GRAMS}
    for a, b in _similar_pairs(grams):
        union.join(a, b)
    return {i: union.find(i) for i in ids}


def near_copies(pieces: Sequence[Mapping[str, Any]], splits: Mapping[str, str]) -> int:
    """How many test pieces are versions (:func:`version_groups`) of a training piece."""
    groups = version_groups(pieces)
    in_train = {groups[i] for i, s in splits.items() if s == "train" and i in groups}
    return sum(1 for i, s in splits.items() if s == "test" and groups.get(i) in in_train)
