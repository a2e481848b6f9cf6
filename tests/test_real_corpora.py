"""What the canonical corpora hold, prepared right: Nottingham ABC with chord symbols,
Essen kern with pickups, ties and grace notes, piano-midi.de MIDI with tempo changes,
sustain pedal and two hands. Every fixture is written here, in the corpora's own style."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import mido
import pytest

from tunesmith.config.stages import PrepareConfig
from tunesmith.core.errors import MusicInputError
from tunesmith.tracks.abc import abc_chars
from tunesmith.tracks.abc.track import prepare_nottingham
from tunesmith.tracks.melody.track import prepare_essen
from tunesmith.tracks.piano.track import prepare_classical

# As in the Nottingham Music Database (ABC_cleaned/jigs.abc): chords in quotes, a comment
# line, S:/Y: headers, and a key and meter change inside the tune.
NOTTINGHAM = """X: 1
T:A and D
% Nottingham Music Database
S:EF
Y:AB
M:6/8
K:A
f|"A"ecc c2f|"A"ecc c2f|"A"ecc c2f|"Bm"BcB "E7"B2f|
"A"ecc c2f|"A"ecc c2c/2d/2|"D"efe "E7"dcB| [1"A"Ace a2:|
 [2"A"Ace ag=g||
K:D
P:B
"D"f2f Fdd|"D"AFA f2e/2f/2|"G"g2g ecd|"Em"efd "A7"cBA|
"""

# As in Essen's deutschl/erk: a pickup before bar 1, a tie across the bar line; plus a
# grace note (kern `q`), which carries no time.
KERN = """!!!OTL: Ein Lied
**kern
*M2/4
*k[]
*C:
8c
=1
4e
8qd
4f[
=2
4f]
4g
==
*-
"""


def test_drop_chord_symbols_keeps_fields_and_music() -> None:
    text = abc_chars.normalise_tune(NOTTINGHAM, "all")
    dropped = abc_chars.drop_chord_symbols(text)
    assert '"' not in dropped
    assert "f|ecc c2f|ecc c2f|ecc c2f|BcB B2f|\n" in dropped
    assert "[2Ace ag=g||\nK:D\nP:B\n" in dropped
    assert dropped.startswith("X: 1\nT:A and D\nS:EF\nY:AB\nM:6/8\nK:A\n")
    assert abc_chars.drop_chord_symbols('T:"quoted" title\nK:C\n"C"C2 "^ann"D2|\n') == 'T:"quoted" title\nK:C\nC2 D2|\n'


@pytest.mark.parametrize("chords", ["keep", "drop"])
def test_nottingham_tune_with_chords_prepares(tmp_path: Path, chords: str) -> None:
    path = tmp_path / "jigs-1.abc"
    path.write_text(NOTTINGHAM)
    cfg = PrepareConfig(headers="musical", chords=chords)
    (piece,) = prepare_nottingham(path, "abc", "jigs-1", "A and D", cfg)
    assert piece["abc"].startswith("M:6/8\nK:A\n")
    assert ('"E7"' in piece["abc"]) == (chords == "keep")
    assert "K:D\n" in piece["abc"]  # the key change inside the tune stays
    notes = abc_chars.to_stream(piece["abc"]).flatten().notes
    assert len([n for n in notes if n.isNote]) >= 40  # the music is the same either way


def test_kern_pickup_tie_and_grace_note(tmp_path: Path) -> None:
    path = tmp_path / "deut0001.krn"
    path.write_text(KERN)
    cfg = PrepareConfig(acceptable_durations=(0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0), transpose=False)
    (piece,) = prepare_essen(path, "kern", "deut0001", "", cfg)
    assert piece["title"] == "Ein Lied"
    # the pickup starts the melody (no rest before it), the grace note is gone, the tied f is one note
    assert piece["events"] == [[60, "1/2"], [64, "1"], [65, "2"], [67, "1"]]


def test_kern_triplet_fails_the_duration_filter(tmp_path: Path) -> None:
    path = tmp_path / "deut0002.krn"
    path.write_text(KERN.replace("4e\n", "12e\n12e\n12e\n"))
    cfg = PrepareConfig(acceptable_durations=(0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0))
    with pytest.raises(MusicInputError, match=r"duration 1/3 quarter lengths .* measure 1") as info:
        prepare_essen(path, "kern", "deut0002", "", cfg)
    assert info.value.reason == "unacceptable_duration"
    (piece,) = prepare_essen(path, "kern", "deut0002", "", PrepareConfig())  # no filter: kept, exactly
    assert [e[1] for e in piece["events"][:4]] == ["1/2", "1/3", "1/3", "1/3"]
    assert sum(Fraction(d) for _, d in piece["events"]) == Fraction(9, 2)


def piano_midi(path: Path) -> None:
    """Two hands on two tracks, a tempo change after 2 beats, sustain pedal, as piano-midi.de writes."""
    tpb = 480
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000, time=0),  # 120 bpm
                           mido.MetaMessage("set_tempo", tempo=1000000, time=2 * tpb),  # 60 bpm from beat 2
                           mido.MetaMessage("end_of_track", time=0)])
    right = mido.MidiTrack([mido.Message("note_on", note=72, velocity=80, time=0),
                            mido.Message("note_off", note=72, velocity=0, time=tpb),
                            mido.Message("note_on", note=76, velocity=80, time=2 * tpb),  # beat 3, after the change
                            mido.Message("note_off", note=76, velocity=0, time=tpb)])
    left = mido.MidiTrack([mido.Message("control_change", control=64, value=127, time=0),  # pedal down
                           mido.Message("note_on", note=48, velocity=70, time=0),
                           mido.Message("note_off", note=48, velocity=0, time=2 * tpb),
                           mido.Message("control_change", control=64, value=0, time=2 * tpb)])
    mid.tracks += [meta, right, left]
    mid.save(path)


def test_piano_midi_tempo_change_pedal_and_two_hands(tmp_path: Path) -> None:
    path = tmp_path / "chpn.mid"
    piano_midi(path)
    cfg = PrepareConfig(frames_per_beat=4, transpose=False)
    (piece,) = prepare_classical(path, "midi", "chpn", "Chopin", cfg)
    # beats, not seconds: the note after the tempo change starts at beat 3 (frame 12) and lasts one beat;
    # both hands are one roll; the pedal does not lengthen notes (they end at the key release, as in
    # the pretty_midi piano roll of Lorinczi & Brailovsky)
    assert piece["notes"] == [[48, 0, 8], [72, 0, 4], [76, 12, 16]]
    assert piece["n_frames"] == 16
