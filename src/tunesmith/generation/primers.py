"""Primers: what each sample starts from (``generate.<c>.primer``), as symbols and as ids."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from tunesmith.core.errors import ConfigError
from tunesmith.core.safe_json import parse_json_bounded
from tunesmith.tracks import get_track
from tunesmith.tracks.base import Track


def _read_pieces(path: Path | None, mode: str, limit: int = 0) -> list[list[str]]:
    """The symbols of the encoded pieces in ``path`` (the first ``limit``; 0 = all) for primer ``mode``."""
    split = "train" if mode == "openings" else "test"
    if path is None or not path.is_file():
        raise ConfigError(f"primer mode {mode!r} needs the encoded {split} split, {path} not found")
    pieces = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            try:
                symbols = parse_json_bounded(line, f"{path}, line {number}")["symbols"]
                if not isinstance(symbols, list) or not all(isinstance(x, str) for x in symbols):
                    raise TypeError("'symbols' is not a list of strings")
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"{path}, line {number}: not a piece of the encode stage's {split} split "
                                  f"({type(exc).__name__}: {str(exc)[:80]})") from exc
            pieces.append(symbols)
            if limit and len(pieces) >= limit:
                break
    if not pieces:
        raise ConfigError(f"primer mode {mode!r}: {path} holds no pieces")
    return pieces


def _test_openings(path: Path | None, length: int, n: int) -> list[list[str]]:
    pieces = [symbols[:length] for symbols in _read_pieces(path, "test", n)]
    return [pieces[i % len(pieces)] for i in range(n)]


def _stratified(pieces: Sequence[list[str]], meter, n: int, rng: random.Random) -> list[list[str]]:
    """``n`` pieces drawn so each meter's share of them is its share of ``pieces`` (largest
    remainder: within one sample of it), each meter's pieces without replacement while they
    last, in a shuffled order. Drawing at random instead would leave the meters of 32 samples
    about 9 points off the corpus's by chance alone."""
    groups: dict[str | None, list[list[str]]] = {}
    for piece in pieces:
        groups.setdefault(meter(piece), []).append(piece)
    names = sorted(groups, key=lambda m: (-len(groups[m]), str(m)))
    exact = {m: n * len(groups[m]) / len(pieces) for m in names}
    take = {m: int(exact[m]) for m in names}
    for m in sorted(names, key=lambda m: -(exact[m] - take[m]))[: n - sum(take.values())]:
        take[m] += 1
    chosen = []
    for m in names:
        pool = groups[m]
        order = rng.sample(range(len(pool)), len(pool))
        chosen += [pool[order[i % len(pool)]] for i in range(take[m])]
    rng.shuffle(chosen)
    return chosen


def primer_symbols(cfg, meta: dict, *, test_pieces: Path | None = None,
                   track: str | Track | None = None) -> list[list[str]]:
    """The primer of every sample, as symbols (without the leading end token).

    One list per sample: all the same except for mode ``test``, which takes the
    opening of a different held-out piece for each sample. Mode ``midi`` asks
    ``track`` (by default the vocabulary's ``corpus``) to read the file
    (:meth:`tunesmith.tracks.Track.midi_primer`).
    """
    p = cfg.primer
    n = cfg.num_samples
    if p.mode == "start":
        return [[] for _ in range(n)]
    if p.mode == "chars":
        return [list(p.text.replace("\\n", "\n")) for _ in range(n)]
    if p.mode == "symbols":
        return [p.text.split() for _ in range(n)]
    if p.mode == "midi":
        reader = get_track(track if track is not None else meta.get("corpus", ""))
        return [reader.midi_primer(Path(p.text).expanduser(), meta, p.length) for _ in range(n)]
    if p.mode == "openings":
        train = test_pieces.with_name("train.jsonl") if test_pieces is not None else None
        reader = get_track(track if track is not None else meta.get("corpus", ""))
        pieces = _read_pieces(train, "openings")
        rng = random.Random(cfg.seed)  # the same primers for the same seed
        return [reader.opening(piece, p.length) for piece in _stratified(pieces, reader.meter, n, rng)]
    return _test_openings(test_pieces, p.length, n)


def symbol_ids(symbols: Sequence[str], vocab_symbols: Sequence[str], end: str, *, allow_unk: bool) -> list[int]:
    """``[end_id] + ids of symbols``; an unknown symbol is an error naming it and its nearest
    valid symbols, except where ``allow_unk`` maps it to ``<unk>`` (a real opening, from a MIDI
    file or a test piece, may hold symbols training never saw)."""
    from tunesmith.generation.decode import parse_primer

    index = {s: i for i, s in enumerate(vocab_symbols)}
    if not allow_unk and any(s not in index for s in symbols):
        chars = all(len(s) == 1 for s in symbols)  # ABC characters: spaces and newlines are symbols
        text = "".join(symbols) if chars else " ".join(symbols)
        parse_primer(text, vocab_symbols, mode="chars" if chars else "symbols", end_symbol=end)  # raises
    unk = index.get("<unk>", index[end])
    return [index[end], *(index.get(s, unk) for s in symbols)]
