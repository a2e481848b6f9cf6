"""The ``tunesmith`` command: generate from a trained model, inspect artifacts, compare revisions.

`main` is the console script; `EXAMPLES` is what ``tunesmith --help`` prints after the commands.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from tunesmith.config.sampling import METHODS
from tunesmith.core.errors import TunesmithError
from tunesmith.core.workers import skip_final_collection

log = logging.getLogger("tunesmith")

DESCRIPTION = ("tunesmith: generate music from a model the pipeline trained, inspect its artifacts, "
               "compare the workspace with another git revision.")
EXAMPLES = """examples:
  tunesmith generate --model data/models/essen --num 4 --out /tmp/melodies
  tunesmith generate --model data/models/essen --primer "60 _ _ _ 62 _ r _" --out /tmp/seeded
  tunesmith generate --model data/models/nottingham --primer-mode chars \\
      --primer 'M:6/8\\nL:1/8\\nK:D\\n' --temperature 0.5 --out /tmp/jigs
  tunesmith generate --model data/models/classical --primer-mode midi \\
      --primer my_piece.mid --primer-length 64 --out /tmp/piano
  tunesmith score --model data/models/essen my_song.krn
  tunesmith inspect data/vocab/essen
  tunesmith compare --rev main --out compare
  tunesmith sweeps --corpus nottingham --metric model.nll

Run 'tunesmith COMMAND --help' for a command's options.
"""


PARAMS_HELP = ("the pipeline's params (default: params.yaml when there is one): generate.<corpus> there gives "
               "the defaults of the options above, so the CLI samples as the pipeline does; without it, "
               "tunesmith's defaults")


def _bias(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in filter(None, text.split(",")):
        symbol, sep, weight = item.rpartition("=")
        if not sep or not symbol:
            raise argparse.ArgumentTypeError(f"--bias wants SYMBOL=WEIGHT[,SYMBOL=WEIGHT...], got {item!r}")
        try:
            out[symbol] = float(weight)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"--bias weight of {symbol!r} must be a number, got {weight!r}") from exc
    return out


def _natural(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}") from exc
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _logging_options(parser: argparse.ArgumentParser, default) -> None:
    """``-v``/``-q`` on ``parser``; a subcommand's default is SUPPRESS, so the main parser's value stays
    unless the option comes after the subcommand."""
    parser.add_argument("-v", "--verbose", action="store_true", default=default, help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", default=default, help="warnings and errors only")


def _parser() -> argparse.ArgumentParser:
    from tunesmith import __version__

    p = argparse.ArgumentParser(prog="tunesmith", description=DESCRIPTION, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"tunesmith {__version__}")
    _logging_options(p, False)
    common = argparse.ArgumentParser(add_help=False)
    _logging_options(common, argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser(
        "generate", parents=[common], help="generate music from a trained model",
        description="Generate NUM samples as one batch from a model folder written by the train stage "
                    "(model.keras + vocab.json + config.json) and write MIDI (all tracks), ABC "
                    "(nottingham), MusicXML (nottingham, essen) and samples.csv to --out.")
    g.add_argument("--model", type=Path, required=True, help="model folder, e.g. data/models/essen")
    g.add_argument("--out", type=Path, required=True, help="folder to write the samples to (replaced)")
    g.add_argument("--num", type=int, default=None, help="number of samples, generated as one batch "
                   "(default: generate.<corpus>.num_samples of --params, else 4)")
    g.add_argument("--max-length", type=int, default=None, help="new tokens per sample at most "
                   "(default: generate.<corpus>.max_length of --params, else 512)")
    g.add_argument("--seed", type=_natural, default=0,
                   help="same model, options and seed give the same samples (default: %(default)s)")
    g.add_argument("--primer", default=None, help="primer text: symbols ('60 _ _ _ 62'), ABC text "
                                                   "(with --primer-mode chars) or a MIDI file (midi)")
    g.add_argument("--primer-mode", choices=["start", "chars", "symbols", "midi", "test", "openings"], default=None,
                   help="how to read --primer; default: symbols if --primer is given, else the pipeline's "
                        "primer (generate.<corpus>.primer), else start")
    g.add_argument("--primer-length", type=int, default=None, help="tokens taken from a MIDI or test primer")
    g.add_argument("--test-pieces", type=Path, default=None,
                   help="encoded test split for --primer-mode test (default data/encoded/<corpus>/test.jsonl; "
                        "--primer-mode openings reads train.jsonl beside it)")
    g.add_argument("--sampler", choices=METHODS, default=None,
                   help="how each next token is picked (default: the pipeline's, generate.<corpus>.sampler)")
    g.add_argument("--temperature", type=float, default=None, help="T > 0; low = safer, high = wilder")
    g.add_argument("--top-k", type=int, default=None, help="k for --sampler top_k")
    g.add_argument("--top-p", type=float, default=None, help="nucleus mass for --sampler top_p")
    g.add_argument("--bias", type=_bias, default=None,
                   help='per-symbol weights, e.g. r=0.9 (Vasudeva, "Music Generation using an LSTM model")')
    g.add_argument("--params", type=Path, default=None, help=PARAMS_HELP)
    g.add_argument("--cache", action="store_true",
                   help="sample from the LSTM mixed with the continuous cache the train stage fitted "
                        "(Grave, Joulin & Usunier, \"Improving Neural Language Models with a Continuous Cache\")")

    c = sub.add_parser("compare", parents=[common],
                       help="compare the workspace with another revision (markdown and HTML)",
                       description="Write OUT/report.md (for a CI job summary) and OUT/index.html: the params "
                                   "that differ, each corpus's headline metrics of both revisions with the "
                                   "change and which is better, their loss curves in one figure, and (in the "
                                   "page) both revisions' samples side by side. Metrics and plots come from "
                                   "git; the other revision's samples from the local DVC cache "
                                   "(make compare REV=main).")
    c.add_argument("--rev", required=True, help="git revision to compare with, e.g. main or HEAD~1")
    c.add_argument("--out", type=Path, default=Path("compare"), help="folder for report.md, index.html, images")
    c.add_argument("--fetch", action="store_true",
                   help="first fetch REV's samples from the DVC remote into the cache")

    w = sub.add_parser("sweeps", parents=[common], help="chart a metric across dvc experiments (the seeds' sweeps)",
                       description="Write OUT/sweeps_<corpus>.png and .md: one metric of every dvc "
                                   "experiment (dvc exp show), labelled by the params it changed.")
    w.add_argument("--corpus", required=True, help="a track of params.yaml (nottingham, essen, classical, ...)")
    w.add_argument("--metric", default="model.nll", help="metric key, e.g. model.nll or val.loss")
    w.add_argument("--out", type=Path, default=Path("sweeps"),
                   help="folder for the chart and table: new, empty, or one sweeps wrote")

    i = sub.add_parser("inspect", parents=[common], help="summarise a vocab, model or samples folder")
    i.add_argument("path", type=Path, help="data/vocab/<corpus>, data/models/<corpus> or data/samples/<corpus>")
    _score_and_completion(sub, common)
    return p


def _score_and_completion(sub, common: argparse.ArgumentParser) -> None:
    """The ``score`` and ``completion`` subcommands."""
    s = sub.add_parser("score", parents=[common], help="score music files of your own under a trained model",
                       description="Negative log-likelihood of each FILE, per symbol and per note, without and with "
                                   "the model's continuous cache: read with the prepare and encode options of "
                                   "the model's corpus (vocab.json) and scored as the evaluate stage scores the "
                                   "test split (tunesmith.load_model(...).score, docs/api.md).")
    s.add_argument("--model", type=Path, required=True, help="model folder, e.g. data/models/essen")
    s.add_argument("files", type=Path, nargs="+", metavar="FILE", help=".abc, .krn, .musicxml or .mid")
    s.add_argument("--unknown", choices=["error", "unk"], default="error",
                   help="symbols the vocabulary lacks: stop naming them, or score them as <unk> as evaluate "
                        "does (default: %(default)s)")

    k = sub.add_parser("completion", parents=[common], help="print a shell completion script (shtab)",
                       description="Print the completion script of SHELL, e.g. "
                                   "'tunesmith completion bash > ~/.local/share/bash-completion/completions/tunesmith' "
                                   "or 'tunesmith completion zsh > ~/.zfunc/_tunesmith'.")
    k.add_argument("shell", choices=["bash", "zsh", "tcsh"])


def _quiet_tensorflow() -> None:
    """Import TensorFlow with its start-up banners (oneDNN, CPU features: printed by its C++ core
    before any log level applies) sent to /dev/null; ``-v`` keeps them."""
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(null, 2)
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _params(args: argparse.Namespace) -> Path | None:
    """``--params`` (a missing file named there is an error), else ./params.yaml when there is one."""
    if args.params is not None:
        if not args.params.is_file():
            raise TunesmithError(f"--params {args.params}: no such file")
        return args.params
    return Path("params.yaml") if Path("params.yaml").is_file() else None


def _generate(args: argparse.Namespace) -> int:
    from tunesmith.api import generation_settings, model_vocab
    from tunesmith.core.safe_json import printable
    from tunesmith.generation.samples import generate_samples

    params = args.params
    corpus = model_vocab(args.model, params)["corpus"]
    cfg, source = generation_settings(
        corpus, params, num=args.num, max_length=args.max_length, seed=args.seed, sampler=args.sampler,
        temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, bias=args.bias, primer=args.primer,
        primer_mode=args.primer_mode, primer_length=args.primer_length, cache=args.cache)
    log.info("sampling with %s: %s (top_p %s, temperature %s), up to %d tokens, primer %s", source,
             cfg.sampler.method, cfg.sampler.top_p, cfg.sampler.temperature, cfg.max_length, cfg.primer.mode)
    test = args.test_pieces or Path("data/encoded") / corpus / "test.jsonl"
    table = generate_samples(corpus, args.model, cfg, args.out, test_pieces=test)
    print(printable(table[["sample", "length", "ended", "decoded", "notes", "files"]].to_string(index=False)))
    print(f"\n{int(table['decoded'].sum())}/{len(table)} samples decode; files in {args.out}")
    return 0


def _score(args: argparse.Namespace) -> int:
    from tunesmith.api import load_model

    model = load_model(args.model)
    for path in args.files:
        print(f"{path}: {model.score(path, unknown=args.unknown).summary()}")
    return 0


def _completion(args: argparse.Namespace) -> int:
    import shtab

    print(shtab.complete(_parser(), shell=args.shell))
    return 0


def _inspect(args: argparse.Namespace) -> int:
    path: Path = args.path
    try:
        return _inspect_folder(path)
    except TunesmithError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        # a damaged artifact (empty table, truncated array, a vocab of another shape): one line naming it
        raise TunesmithError(f"{path}: cannot be read as a tunesmith folder: {type(exc).__name__}: "
                             f"{(str(exc).strip().splitlines() or [''])[0][:200]}") from exc


def _inspect_folder(path: Path) -> int:
    import json

    from tunesmith.core.safe_json import printable
    from tunesmith.core.safe_json import read_json_bounded as read_json

    if (path / "samples.csv").exists():
        import pandas as pd

        try:
            table = pd.read_csv(path / "samples.csv")
        except pd.errors.EmptyDataError as exc:
            raise TunesmithError(f"{path / 'samples.csv'} is empty: not a samples table") from exc
        print(printable(table.to_string(index=False)))
        return 0
    if (path / "vocab.json").exists():
        vocab = read_json(path / "vocab.json")
        if not isinstance(vocab, dict) or not isinstance(vocab.get("symbols"), list):
            raise TunesmithError(f"{path / 'vocab.json'} is not a vocabulary: it has no list of symbols")
        print(printable(f"corpus {vocab.get('corpus')}  representation {vocab.get('representation')}  "
                        f"size {vocab.get('size', len(vocab['symbols']))}  special {vocab.get('special')}"))
        counts = vocab.get("counts", {})
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:15] if isinstance(counts, dict) else []
        print("most frequent:", ", ".join(f"{s!r}:{c}" for s, c in top))
        if "coverage" in vocab:
            print("coverage:", printable(vocab["coverage"]))
        for split in ("train", "validation", "test"):
            if (path / f"{split}.npy").exists():
                from tunesmith.data.windows import load_split

                print(f"{split}: {load_split(path, split).size} tokens")
        for name in ("config.json", "metrics.json"):
            if (path / name).exists():
                print(f"{name}:", printable(json.dumps(read_json(path / name, allow=("NaN", "Infinity", "-Infinity")),
                                                       indent=2, sort_keys=True, ensure_ascii=False)))
        if (path / "cache.json").exists():
            cache = read_json(path / "cache.json")
            print(printable(f"continuous cache: lambda {cache.get('lambda')} theta {cache.get('theta')} "
                            f"({cache.get('similarity', 'dot')} similarity, chosen on {cache.get('chosen_on')}; "
                            f"validation NLL {cache.get('validation_nll_without')} without it, "
                            f"{cache.get('validation_nll')} with it)"))
        return 0
    raise TunesmithError(f"{path}: no vocab.json or samples.csv here")


def _compare(args: argparse.Namespace) -> int:
    from tunesmith.compare.run import write_comparison

    try:
        report = write_comparison(args.rev, args.out, fetch=args.fetch)
    except TunesmithError:
        raise
    except Exception as exc:  # DVC, git or the file system: one line, the traceback with -v
        log.debug("compare failed", exc_info=True)
        first = (str(exc).strip().splitlines() or [""])[0]
        raise TunesmithError(f"compare failed: {type(exc).__name__}: {first}") from exc
    print(report.read_text())
    print(f"written: {report} and {report.parent / 'index.html'}", file=sys.stderr)
    return 0


def log_level(args: argparse.Namespace) -> int:
    """DEBUG with ``-v``, WARNING with ``-q``, else INFO."""
    return logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    skip_final_collection()
    if args.verbose and args.quiet:
        parser.error("-v/--verbose and -q/--quiet do not go together")
    if not args.verbose:  # before anything imports TensorFlow: its C++ core reads it once
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=log_level(args), format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "generate":
            args.params = _params(args)  # a --params file that is not there: one line, before TensorFlow loads
        if args.command in ("generate", "score") and not args.verbose and "tensorflow" not in sys.modules:
            _quiet_tensorflow()
        return _run(args)
    except TunesmithError as exc:
        print(f"tunesmith: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        out = getattr(args, "out", None)
        where = f"; {out} is as it was" if out is not None and args.command == "generate" else ""
        print(f"tunesmith: interrupted{where}: nothing written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tunesmith completion bash | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit must not fail
        return 141


def _run(args: argparse.Namespace) -> int:
    if args.command == "sweeps":
        from tunesmith.compare.sweeps import sweep_summary

        try:
            print(sweep_summary(args.corpus, args.metric, args.out).read_text())
        except ValueError as exc:
            raise TunesmithError(str(exc)) from exc
        return 0
    commands = {"compare": _compare, "generate": _generate, "score": _score, "completion": _completion}
    return commands.get(args.command, _inspect)(args)


if __name__ == "__main__":
    sys.exit(main())
