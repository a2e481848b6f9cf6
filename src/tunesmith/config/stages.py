"""The params.yaml sections of the data and generation stages: fetch, prepare, encode, vocab, generate, evaluate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tunesmith.config.checks import MAX_SEED, check_count
from tunesmith.config.sampling import SamplerConfig  # numpy only: cheap to import

# --------------------------------------------------------------------------- stage configs


@dataclass(frozen=True)
class FetchConfig:
    """Where a corpus comes from (``fetch.<corpus>`` in params.yaml).

    source: ``bundled`` (music21's own corpus, no network), ``download`` (the
    canonical corpus at a pinned commit, every file verified against the manifest
    in ``tunesmith/sources/manifests/<corpus>.tsv``) or ``local`` (a folder of your files).
    collections / workers apply to ``bundled``; rhythms / max_pieces to ``bundled`` and ``local``;
    subsets / mirror / method to ``download``; local_dir, include, exclude, same_name to ``local``.

    subsets: sub-folders or files below the manifest's common folder (Essen ``erk``,
      Nottingham ``jigs``, piano-midi.de composers such as ``Chopin``); empty = all.
    mirror: ``http(s)://`` base URL serving the manifest's paths; empty = the pinned URLs.
    method: ``auto`` (one file at a time with a mirror or for few files, else the
      repository archive), ``archive`` or ``files``.
    include / exclude (``local``): glob patterns on each file's path below ``local_dir``
      (``melody/*``, ``**/chords/*``; ``*`` also crosses ``/``): only files matching an
      ``include`` (empty = all), none matching an ``exclude``.
    same_name (``local``): files of one name in several folders (``x.mid``, ``melody/x.mid``,
      ``chords/x.mid``: versions of one tune) -- ``first`` keeps the one nearest the top
      (then in path order) and lists the others in rejected.csv as ``same_name``; ``all``
      keeps them all (encode then keeps them in one split).
    """

    source: Literal["bundled", "download", "local"] = "bundled"
    collections: tuple[str, ...] = ()
    rhythms: tuple[str, ...] = ()
    max_pieces: int = 0
    workers: int = 0
    subsets: tuple[str, ...] = ()
    mirror: str = ""
    method: Literal["auto", "archive", "files"] = "auto"
    local_dir: str = ""
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    same_name: Literal["first", "all"] = "first"

    def __post_init__(self) -> None:
        if self.max_pieces < 0:
            raise ValueError(f"max_pieces must be >= 0 (0 = all), got {self.max_pieces}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0 (0 = all cores), got {self.workers}")
        if self.source == "local" and not self.local_dir:
            raise ValueError("local_dir must name a folder when source is local, got ''")
        if self.mirror and not self.mirror.startswith(("http://", "https://")):
            raise ValueError(f"mirror must be empty or start with http:// or https://, got {self.mirror!r}")
        if self.mirror and self.method == "archive":
            raise ValueError("method must be auto or files when a mirror is set (a mirror serves files one by one)")
        for i, name in enumerate(self.subsets):
            if not name or "/" in name or name in (".", ".."):
                raise ValueError(f"subsets[{i}] must name one folder or file (no '/'), got {name!r}")
        for key in ("include", "exclude"):
            for i, pattern in enumerate(getattr(self, key)):
                if not isinstance(pattern, str) or not pattern or pattern.startswith("/"):
                    raise ValueError(f"{key}[{i}] must be a glob pattern relative to local_dir, got {pattern!r}")
        if self.source == "bundled" and not self.collections:
            raise ValueError("collections must list at least one music21 corpus collection, got []")


@dataclass(frozen=True)
class PrepareConfig:
    """Parsing, filtering and transposition (``prepare.<corpus>``).

    acceptable_durations: quarter lengths every note and rest must have (Vasudeva's
      filter); empty keeps every piece.
    transpose: move each piece to C major / A minor (Vasudeva), from its key
      signature when it has one, else by key analysis; ABC tunes move to the tonic C in
      their own mode (``K:G`` to ``K:C``, ``K:Ador`` to ``K:Cdor``: Sturm et al.'s folk-rnn); one
      that cannot be moved (no tonic in ``K:``) stays as written, with a warning naming it.
    headers: ABC headers to keep, ``all`` (Reitman & Cho) or ``musical`` (M:, L:, K:).
    chords: ABC chord symbols in quotes (``"G"``, ``"D7"``), ``keep`` or ``drop``.
    bars: ABC tunes whose bars do not fit their meter (a bar of 3.875 beats in 4/4, a second
      M: in the header, old chord syntax read as a run of notes): ``reject`` them as
      ``bar_mismatch``, naming the bar, or ``keep`` them.
    frames_per_beat / fs: piano-roll resolution for MIDI; exactly one is > 0.
    pitch_low / pitch_high: MIDI pitch range kept in the piano roll.
    max_frames: longest piano roll kept per piece (0 = no cap), keeps huge files from
      dominating a small default run.
    max_seconds: a piece longer than this much music (at its own tempo; 120 quarter
      notes a minute when it gives none) is rejected as ``too_long``.
    max_tokens: a piece longer than this is rejected as ``too_long``: piano-roll frames
      (classical, read from the MIDI's tick counts before any roll is built), characters
      of the tune (nottingham, before parsing), 16th notes (essen).
    parse_timeout: seconds one file may take to parse (0 = no limit); a slower file is
      rejected as ``timeout``, so one pathological file cannot stall the stage.
    workers: parallel parser processes (0 = all cores).
    """

    acceptable_durations: tuple[float, ...] = ()
    transpose: bool = False
    headers: Literal["all", "musical"] = "musical"
    chords: Literal["keep", "drop"] = "keep"
    bars: Literal["reject", "keep"] = "reject"
    frames_per_beat: int = 4
    fs: float = 0.0
    pitch_low: int = 21
    pitch_high: int = 108
    max_frames: int = 0
    max_seconds: float = 1800.0
    max_tokens: int = 100_000
    parse_timeout: float = 60.0
    workers: int = 0

    def __post_init__(self) -> None:
        if not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0, got {self.max_seconds}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if not self.parse_timeout >= 0:
            raise ValueError(f"parse_timeout must be >= 0 (0 = no limit), got {self.parse_timeout}")
        for i, d in enumerate(self.acceptable_durations):
            if d <= 0:
                raise ValueError(f"acceptable_durations[{i}] must be > 0, got {d}")
        if (self.frames_per_beat > 0) == (self.fs > 0):
            raise ValueError(
                f"frames_per_beat must be > 0 or fs > 0 but not both, "
                f"got frames_per_beat={self.frames_per_beat}, fs={self.fs}"
            )
        if self.frames_per_beat < 0:
            raise ValueError(f"frames_per_beat must be >= 0, got {self.frames_per_beat}")
        if not 0 <= self.pitch_low <= self.pitch_high <= 127:
            raise ValueError(
                f"pitch_low must be <= pitch_high, both in [0, 127], got {self.pitch_low}..{self.pitch_high}"
            )
        if self.max_frames < 0:
            raise ValueError(f"max_frames must be >= 0 (0 = no cap), got {self.max_frames}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0 (0 = all cores), got {self.workers}")


SPLITS = ("train", "validation", "test")
"""The three splits, by piece, in the order their files are written."""


@dataclass(frozen=True)
class SplitConfig:
    """Shares of pieces in each split; they must sum to 1."""

    train: float = 0.8
    validation: float = 0.1
    test: float = 0.1

    def __post_init__(self) -> None:
        for name in ("train", "validation", "test"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if self.train <= 0:
            raise ValueError(f"train must be > 0, got {self.train}")
        total = self.train + self.validation + self.test
        if abs(total - 1) > 1e-6:
            raise ValueError(f"train + validation + test must sum to 1, got {total:g}")


@dataclass(frozen=True)
class EncodeConfig:
    """Symbols and the split (``encode.<corpus>``).

    time_step: quarter lengths per symbol of the essen time series (Vasudeva: 0.25).
    representation: classical only: ``chords`` (one token per set of sounding pitches, rare ones
      ``<unk>``, Lorinczi & Brailovsky) or ``notes`` (each frame's pitches then a frame end, ~90 symbols, no
      ``<unk>``: :mod:`tunesmith.tracks.piano.notes_per_frame`) or ``onsets`` (the same, each pitch
      marked struck or held, 178 symbols: :mod:`tunesmith.tracks.piano.onsets_per_frame`) or
      ``metered`` (notes per frame whose frame ends name the frame's place in a 16-frame bar, 105
      symbols: :mod:`tunesmith.tracks.piano.metered_frames`) or ``metered_onsets`` (metered frames
      whose pitches are marked struck or held, 193 symbols:
      :mod:`tunesmith.tracks.piano.metered_onsets`); essen: ``metered`` (the time series with the
      song's meter and bar lines: :mod:`tunesmith.tracks.melody.metered_series`), any other value
      the plain time series.
    distinguish_holds: classical chord tokens mark held (not re-struck) pitches.
    split: piece shares; a local corpus with train/valid/test folders keeps its own.
    seed: the split's shuffle seed.
    versions: ``group`` keeps the versions of one piece (the same file name in two folders, the
      same melody transposed or nearly copied: `tunesmith.data.versions`) in one split; ``ignore``
      splits piece by piece.
    """

    time_step: float = 0.25
    representation: Literal["chords", "notes", "onsets", "metered", "metered_onsets"] = "chords"
    distinguish_holds: bool = True
    split: SplitConfig = field(default_factory=SplitConfig)
    seed: int = 0
    versions: Literal["group", "ignore"] = "group"

    def __post_init__(self) -> None:
        if self.time_step <= 0:
            raise ValueError(f"time_step must be > 0, got {self.time_step}")


@dataclass(frozen=True)
class VocabConfig:
    """Vocabulary (``vocab.<corpus>``): symbols seen fewer than min_count times in
    the training split become ``<unk>`` (Lorinczi & Brailovsky's rare chords)."""

    min_count: int = 1

    def __post_init__(self) -> None:
        if self.min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {self.min_count}")


@dataclass(frozen=True)
class PrimerConfig:
    """What generation starts from (``generate.<corpus>.primer``).

    mode: ``start`` (the start-of-piece token only, Reitman & Cho), ``chars`` (text whose
      characters are symbols, e.g. an ABC header ``"M:6/8\\nL:1/8\\nK:D\\n"``, Reitman & Cho),
      ``symbols`` (whitespace-separated symbols, e.g. Vasudeva's ``"60 _ _ _ 62 _ r _"``),
      ``midi`` (the first ``length`` tokens of the MIDI file ``text``, Lorinczi & Brailovsky) or
      ``test`` (the first ``length`` symbols of a held-out test piece, one per sample) or
      ``openings`` (the opening of a training piece drawn at random for each sample, so the
      samples' meters, keys and rhythms come in the corpus's proportions: an ABC tune's header,
      else its first ``length`` symbols).
    """

    mode: Literal["start", "chars", "symbols", "midi", "test", "openings"] = "start"
    text: str = ""
    length: int = 32

    def __post_init__(self) -> None:
        if self.mode in ("chars", "symbols", "midi") and not self.text:
            raise ValueError(f"text must not be empty for primer mode {self.mode!r}")
        if self.length < 1:
            raise ValueError(f"length must be >= 1, got {self.length}")


@dataclass(frozen=True)
class GenerateConfig:
    """Sampling (``generate.<corpus>``): num_samples generated as one batch, each up to
    max_length new tokens or its end token; the same model, params and seed give the
    same samples. ``sampler`` is :class:`tunesmith.config.sampling.SamplerConfig`."""

    num_samples: int = 8
    max_length: int = 512
    max_bars: int = 0             # a sample stops after this many 4/4 bars of new music (0: max_length only)
    min_bars: int = 0             # ... and may not end (its end token is not sampled) before this many
    seed: int = 0
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    primer: PrimerConfig = field(default_factory=PrimerConfig)
    render: bool = True           # audio (MP3, +WAV), score SVG and piano-roll PNG for every sample
    render_seconds: float = 600.0  # audio is cut after this many seconds (whole samples: the end is heard)
    keep_wav: bool = False        # keep the WAV beside the MP3 (10 MB a minute); kept anyway with no MP3 encoder
    retries: int = 0              # a sample that does not decode is generated again with the next seed
    cache: bool = False           # sample from the LSTM mixed with the cache the train stage fitted
    # corpus: each sample as long as a training piece drawn at random (within their 10th-90th percentile)
    lengths: Literal["bars", "corpus"] = "bars"
    judge_samples: int = 0        # more samples, not rendered, for evaluate's two-sample test (pool.jsonl); 0: none
    real_pieces: int = 0          # real test pieces rendered like the samples, to hear and read beside them (real/)
    form: Literal["none", "plan"] = "none"  # plan: bars that repeat, keep the meter and end sections home (form_plan)
    # frame representations: keep their grammar while sampling (ascending pitches, a held pitch only
    # where it sounded the frame before; `tunesmith.generation.constraints.FrameRules`); false: the model alone
    frame_rules: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.frame_rules, bool):
            raise ValueError(f"frame_rules must be true or false, got {self.frame_rules!r}")
        if not 0 <= self.real_pieces <= 64:
            raise ValueError(f"real_pieces must be in [0, 64], got {self.real_pieces}")
        if not 0 <= self.judge_samples <= 4096:
            raise ValueError(f"judge_samples must be in [0, 4096], got {self.judge_samples}")
        check_count("seed", self.seed, 0, MAX_SEED)
        check_count("retries", self.retries, 0, 1000)
        if not isinstance(self.cache, bool):
            raise ValueError(f"cache must be true or false, got {self.cache!r}")
        if not isinstance(self.keep_wav, bool):
            raise ValueError(f"keep_wav must be true or false, got {self.keep_wav!r}")
        if self.render_seconds <= 0:
            raise ValueError(f"render_seconds must be > 0, got {self.render_seconds}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {self.num_samples}")
        if self.max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {self.max_length}")
        if self.max_bars < 0:
            raise ValueError(f"max_bars must be >= 0, got {self.max_bars}")
        if self.min_bars < 0 or (self.max_bars and self.min_bars > self.max_bars):
            raise ValueError(f"min_bars must be in [0, max_bars], got {self.min_bars}")


MAX_NGRAM_ORDER = 16
"""The highest n-gram order evaluated: every order up to it is fitted (each a pass over the corpus)."""
EVALUATE_BOUNDS = {"ngram_order": MAX_NGRAM_ORDER, "max_positions": 100_000_000, "batch_size": 65_536,
                   "novelty_ngram": 64, "heatmap_steps": 100_000}
"""Each count of ``evaluate.<corpus>`` is in ``[1, bound]``: beyond, the stage's time or memory is unbounded."""


@dataclass(frozen=True)
class EvaluateConfig:
    """Evaluation (``evaluate.<corpus>``).

    ngram_order: highest order of the interpolated Kneser-Ney baseline; the order is chosen
      among 2..ngram_order on the validation split (the best n-gram), never on test.
    max_positions: test positions scored at most for window-only models (bilstm).
    batch_size: windows per batch when scoring the model.
    real_pieces: held-out test pieces the samples' music statistics are compared with (0 = all).
    novelty_ngram: n of the "share of n-grams found in the training set" (Vinze et al.; Reitman & Cho).
    heatmap_steps: tokens of sample_000 shown in the hidden-unit heatmap (Reitman & Cho's figure 11).
    """

    ngram_order: int = 8
    max_positions: int = 20000
    batch_size: int = 64
    real_pieces: int = 100
    novelty_ngram: int = 8
    heatmap_steps: int = 120

    def __post_init__(self) -> None:
        for name, high in EVALUATE_BOUNDS.items():
            check_count(name, getattr(self, name), 1, high)
        check_count("real_pieces", self.real_pieces, 0, 10_000_000)
