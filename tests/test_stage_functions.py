"""Stages are thin: each calls one library function, and the library owns every file format."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tunesmith.config.stages import SPLITS, EncodeConfig
from tunesmith.core import io
from tunesmith.core.errors import ArtifactError
from tunesmith.pipeline.encode import encode_stage
from tunesmith.pipeline.prepare import prepare_stage
from tunesmith.pipeline.vocab import vocab_stage
from tunesmith.tracks.piano import notes_per_frame

ROOT = Path(__file__).resolve().parents[1]
# reading or writing a file format by hand: the library's io/stage functions do that
_FORMAT_CODE = re.compile(r"\bopen\(|\.to_csv\(|\.read_csv\(|json\.(dumps|loads|dump|load)\(|np\.(save|load)\(")


@pytest.mark.parametrize("script", sorted((ROOT / "stages").glob("*.py")), ids=lambda p: p.name)
def test_stage_scripts_leave_file_formats_to_the_library(script: Path) -> None:
    code = script.read_text(encoding="utf-8")
    assert not _FORMAT_CODE.search(code), f"{script.name} reads or writes a file format itself"


def test_the_format_finder_finds_hand_written_files() -> None:
    assert _FORMAT_CODE.search('with open(tmp / "x.jsonl", "w") as fh:')
    assert _FORMAT_CODE.search("frame.to_csv(path)") and _FORMAT_CODE.search("json.loads(line)")
    assert not _FORMAT_CODE.search("io.write_jsonl(path, rows)")


def _encoded(folder: Path, representation: str) -> Path:
    folder.mkdir()
    io.write_json(folder / "meta.json", {"corpus": "classical", "end": "<end>",
                                         "encode": {"representation": representation}})
    pieces = {"train": [["60", "|", "60", "64", "|"]], "validation": [["62", "|"]], "test": [["|"]]}
    for split in SPLITS:
        io.write_jsonl(folder / f"{split}.jsonl", [{"id": f"{split}-0", "title": "", "symbols": p}
                                                  for p in pieces[split]])
    return folder


def test_vocab_stage_holds_the_whole_closed_alphabet_of_notes_per_frame(tmp_path: Path) -> None:
    vocab_stage(_encoded(tmp_path / "enc", "notes"), tmp_path / "vocab", tmp_path / "m.json", min_count=1)
    vocab = io.read_json(tmp_path / "vocab" / "vocab.json")
    assert set(notes_per_frame.SYMBOLS) <= set(vocab["symbols"])
    ids = {s: np.load(tmp_path / "vocab" / f"{s}.npy") for s in SPLITS}
    assert ids["validation"].size == 4  # <end> 62 | <end>: 62 was never in training, yet it is no <unk>
    assert io.read_json(tmp_path / "m.json")["coverage"]["validation"] == 1.0


def test_vocab_stage_gives_chord_tokens_no_closed_alphabet(tmp_path: Path) -> None:
    vocab_stage(_encoded(tmp_path / "enc", "chords"), tmp_path / "vocab", tmp_path / "m.json", min_count=1)
    vocab = io.read_json(tmp_path / "vocab" / "vocab.json")
    assert "62" not in vocab["symbols"] and "60" in vocab["symbols"]
    assert io.read_json(tmp_path / "m.json")["coverage"]["validation"] < 1.0


def test_encode_stage_writes_the_splits_the_library_reads(tmp_path: Path) -> None:
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    pieces = [{"id": f"p{i}", "title": f"t{i}", "events": [[60 + i, "1"], [62, "1/2"]], "split": ""} for i in range(6)]
    io.write_jsonl(prepared / "pieces.jsonl", pieces, sort_keys=True)
    io.write_json(prepared / "meta.json", {"corpus": "essen", "prepare": {"transpose": True}})
    encode_stage("essen", prepared, tmp_path / "enc", tmp_path / "m.json", EncodeConfig())
    rows = {s: io.read_jsonl(tmp_path / "enc" / f"{s}.jsonl") for s in SPLITS}
    assert sorted(r["id"] for s in SPLITS for r in rows[s]) == [p["id"] for p in pieces]
    assert rows["train"][0]["symbols"][:4] == [str(60 + int(rows["train"][0]["id"][1])), "_", "_", "_"]
    meta = io.read_json(tmp_path / "enc" / "meta.json")
    assert meta["corpus"] == "essen" and meta["end"] == "/" and meta["prepare"] == {"transpose": True}
    assert (tmp_path / "enc" / "split.csv").read_text().splitlines()[0] == "id,split"


def test_prepare_stage_without_fetch_output_names_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    with pytest.raises(ArtifactError, match=r"raw/manifest.csv not found: run the fetch stage first"):
        prepare_stage("essen", tmp_path / "raw", tmp_path / "out", tmp_path / "m.json", None)
    assert not (tmp_path / "out").exists()


def test_written_jsonl_is_one_sorted_object_per_line(tmp_path: Path) -> None:
    io.write_jsonl(tmp_path / "a.jsonl", [{"b": 1, "a": "é"}], sort_keys=True)
    assert (tmp_path / "a.jsonl").read_bytes() == (json.dumps({"a": "é", "b": 1}, ensure_ascii=False) + "\n").encode()
