"""The HTML report: every link resolves inside its folder, and a real browser loads it all."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pretty_midi
import pytest

from browser import needs_chromium, probe  # tests/browser.py, shared with the e2e test
from tunesmith.render.audio import render_audio
from tunesmith.render.plots import plot_histograms, plot_piano_roll
from tunesmith.render.scores import render_score_svg
from tunesmith.report.page import build_report
from tunesmith.tracks import get_track

ABC = "X:1\nT:Tiny jig\nM:6/8\nL:1/8\nK:G\nGAB c2d|e2f g3|]\n"


class Links(HTMLParser):
    """Every src/href of img, audio, source and a elements, plus the classes of table rows."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str]] = []
        self.row_classes: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href"):
            if tag in ("img", "audio", "source", "a") and attrs.get(key):
                self.refs.append((tag, attrs[key]))
        if tag == "tr" and attrs.get("class"):
            self.row_classes.append(attrs["class"])


def parse(index: Path) -> Links:
    links = Links()
    links.feed(index.read_text(encoding="utf-8"))
    return links


def make_sample(folder: Path, name: str, pitches: list[int]) -> dict:
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=0)
    for i, p in enumerate(pitches):
        inst.notes.append(
            pretty_midi.Note(velocity=80, pitch=p, start=i * 0.25, end=i * 0.25 + 0.25)
        )
    pm.instruments.append(inst)
    midi = folder / f"{name}.mid"
    pm.write(str(midi))
    abc = folder / f"{name}.abc"
    abc.write_text(ABC, encoding="utf-8")
    audio = render_audio(midi, folder / f"{name}.wav", max_seconds=3.0, mp3=False)
    svg = folder / f"{name}.svg"
    assert render_score_svg(abc, svg)
    png = plot_piano_roll(midi, folder / f"{name}.png")
    return {
        "name": name,
        "midi": str(midi),
        "abc": str(abc),
        "wav": audio["wav"],
        "mp3": audio["mp3"],
        "svg": str(svg),
        "png": str(png),
        "audio": audio,
        "info": {"seed": 3, "sampler": "temperature", "temperature": 0.7},
    }


def write_live(live: Path) -> None:
    for split, values in (("train", [2.0, 1.6, 1.4]), ("val", [2.1, 1.8, 1.75])):
        folder = live / "plots" / "metrics" / split
        folder.mkdir(parents=True)
        rows = "".join(f"{i}\t{v}\n" for i, v in enumerate(values))
        (folder / "loss.tsv").write_text("step\tloss\n" + rows, encoding="utf-8")


METRICS = {
    "split": "test",
    "model": {"nll": 1.5, "perplexity": 4.48, "accuracy": 0.55},
    "baselines": {
        "uniform": {"nll": 4.2, "accuracy": 0.01},
        "unigram": {"nll": 3.1},
        "kn-5": {"nll": 1.8, "perplexity": 6.05},
    },
    "music": {
        "pitch_class_histogram": {"generated": list(range(12)), "real": [1] * 12},
        "mean_pitch": {"generated": 65.2, "real": 66.0},
    },
    "novelty": {"copied_8grams": 0.02},
}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict:
    src = tmp_path_factory.mktemp("inputs")
    write_live(src / "live")
    extra_plot = plot_histograms([1, 2], [2, 1], ["a", "b"], src / "extra.png", "extra")
    return {
        "nottingham": {
            "metrics": METRICS,
            "published": get_track("nottingham").published,  # as evaluate.json carries the track's
            "training": {"best_epoch": 3, "train": {"loss": 1.3}, "val": {"loss": 1.6}},
            "live_dir": str(src / "live"),
            "plots": [{"path": str(extra_plot), "caption": "an extra plot"}],
            "samples": [
                make_sample(src, "sample_000", [67, 69, 71, 72]),
                make_sample(src, "sample_001", [60, 64, 67]),
            ],
        },
        "essen": {
            "title": "Essen <folksongs>",
            "metrics": {"model": {"nll": 0.9}},
            "samples": [
                {"name": "sample_000", "svg": str(src / "missing.svg"), "error": "did not decode"}
            ],
        },
    }


@pytest.fixture(scope="module")
def index(corpora, tmp_path_factory) -> Path:
    return build_report(corpora, tmp_path_factory.mktemp("site") / "report")


def test_every_link_points_inside_the_folder(index):
    links = parse(index)
    kinds = [tag for tag, _ in links.refs]
    # 2 samples x (score + roll) + loss curves + pitch-class histogram + extra plot
    assert kinds.count("img") == 7
    assert kinds.count("source") == 2
    root = index.parent.resolve()
    for tag, ref in links.refs:
        if ref.startswith("#"):
            continue
        assert "://" not in ref and not ref.startswith("/"), f"{tag} {ref} is not relative"
        target = (index.parent / unquote(ref)).resolve()
        assert target.is_file(), f"{tag} {ref} does not exist"
        assert root in target.parents, f"{tag} {ref} leaves the report folder"


def test_report_content(index):
    page = index.read_text(encoding="utf-8")
    assert "model" in parse(index).row_classes
    # the headline: the margin over the best n-gram, 1.8 - 1.5
    assert re.search(r"NLL \(nats/symbol\) <strong>1\.5</strong> on the test split, 0\.3000 \(16\.7%\) lower", page)
    assert "kn-5 (1.8)" in page
    assert page.count("1.72") == 1  # Reitman & Cho's validation NLL, for nottingham only
    assert "Essen &lt;folksongs&gt;" in page and "<folksongs>" not in page
    assert "did not decode" in page
    assert "missing.svg" not in page  # a missing file is left out, not linked
    assert 'href="#essen"' in page and 'id="essen"' in page
    assert "copied_8grams" in page and "Model vs baselines (test split)" in page
    assets = index.parent / "assets" / "nottingham"
    assert (assets / "hist_music.pitch_class_histogram.png").is_file()
    assert (assets / "loss_curves.png").is_file()


def test_rebuild_is_identical_and_replaces_the_folder(corpora, index, tmp_path):
    out = tmp_path / "report"
    (out / "assets").mkdir(parents=True)
    (out / "index.html").write_text("an earlier report", encoding="utf-8")  # tunesmith's own folder
    (out / "assets" / "stale.txt").write_text("old", encoding="utf-8")
    again = build_report(corpora, out)
    assert again.read_bytes() == index.read_bytes()
    assert not (out / "assets" / "stale.txt").exists()


# --------------------------------------------------------------------------- a real browser



@needs_chromium
def test_browser_loads_every_image_and_audio(index, tmp_path):
    result, console = probe(index, tmp_path / "profile")
    assert result["images"] == 7 and result["badImages"] == []
    assert result["audio"] == 2 and result["badAudio"] == []
    assert all(
        d == pytest.approx(2.5, abs=0.05) or d == pytest.approx(2.25, abs=0.05)
        for d in result["durations"]
    ), result["durations"]
    assert console == []


@needs_chromium
@pytest.mark.parametrize("width", [1280, 390])  # a desktop, a phone
def test_no_block_overflows_its_card(index, tmp_path, width):
    result, _ = probe(index, tmp_path / "profile", width=width)
    assert result["overflow"] == [], result["overflow"]
    assert result["pageWidth"] <= result["viewport"]  # nothing makes the page scroll sideways


@needs_chromium
def test_browser_probe_catches_broken_pages(tmp_path):
    # the check above would be worthless if the probe could not see failures
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="nope.png"><audio controls preload="metadata">'
        '<source src="nope.wav" type="audio/wav"></audio>'
        "<script>console.error('boom');</script></body></html>",
        encoding="utf-8",
    )
    result, console = probe(page, tmp_path / "profile")
    assert result["badImages"] == ["nope.png"]
    assert len(result["badAudio"]) == 1
    assert any("boom" in line for line in console)


def test_full_context_headline_with_the_window_figure_and_the_best_ngram_named():
    from tunesmith.report.sections import comparison

    metrics = {
        "model": {"nll": 1.2},
        "model_windows": {"nll": 1.4, "context": "64-token windows from a zero state"},
        "baselines": {"uniform": {"nll": 4.0}, "kn-7": {"nll": 1.5}},
        "best_ngram": {"name": "kn-7", "order": 7, "chosen_on": "validation"},
    }
    table = comparison(metrics, "LSTM")
    names = [row["name"] for row in table["rows"]]
    assert names[0] == "LSTM" and table["rows"][0]["model"]
    assert "LSTM, fixed windows" in names and "kn-7 (best n-gram)" in names
    # short row labels; what they mean is in the notes under the table
    assert max(len(n) for n in names) <= 24
    assert "best n-gram: the Kneser-Ney order chosen on validation" in table["notes"]
    assert any("full context of its piece" in n and "64-token windows from a zero state" in n for n in table["notes"])
    # the headline is against the chosen n-gram: 1.5 - 1.2
    headline = table["headline"]
    assert headline["label"] == "LSTM" and headline["good"]
    assert (headline["value"], headline["diff"], headline["pct"]) == ("1.2", "0.3000", " (20.0%)")
    assert headline["baseline"] == "kn-7"  # the table's row says how its order was chosen


def test_cached_headline_keeps_the_lstm_alone_and_meets_the_cached_ngram():
    from tunesmith.report.sections import comparison

    metrics = {
        "model": {"nll": 1.1},
        "model_no_cache": {"nll": 1.25},
        "cache": {"lambda": 0.3, "theta": 0.5},
        "model_windows": {"nll": 1.6, "context": "64-token windows from a zero state"},
        "baselines": {"kn-8": {"nll": 1.5}, "kn-8 + cache": {"nll": 1.3}},
        "best_ngram": {"name": "kn-8", "order": 8, "chosen_on": "validation"},
    }
    table = comparison(metrics, "LSTM")
    names = [row["name"] for row in table["rows"]]
    assert names[:3] == ["LSTM + cache", "LSTM alone", "LSTM, fixed windows"]
    assert any("lambda 0.3 and theta 0.5, chosen on validation" in n for n in table["notes"])
    # the headline is against the strongest n-gram: the one with its own cache, 1.3 - 1.1
    assert (table["headline"]["baseline"], table["headline"]["diff"]) == ("kn-8 + cache", "0.2000")
    # an off cache (lambda 0) adds no row and no cache words to the label
    off = comparison({**metrics, "cache": {"lambda": 0.0, "theta": 1.0}}, "LSTM")
    assert off["rows"][0]["name"] == "LSTM"
    assert "LSTM alone" not in [r["name"] for r in off["rows"]]


def test_the_report_plays_the_mp3_and_copies_the_wav_only_when_it_is_the_sole_recording(tmp_path):
    from tunesmith.report.assets import Assets
    from tunesmith.report.sections import sample_card

    src = tmp_path / "samples"
    src.mkdir()
    for name in ("both", "wav_only"):
        (src / f"{name}.wav").write_bytes(b"RIFF" + name.encode() * 1000)
    (src / "both.mp3").write_bytes(b"ID3 both")
    assets = Assets(tmp_path / "report")
    both = sample_card("c", {"name": "both", "wav": str(src / "both.wav"), "mp3": str(src / "both.mp3")}, assets)
    alone = sample_card("c", {"name": "wav_only", "wav": str(src / "wav_only.wav"), "mp3": None}, assets)
    copied = sorted(p.name for p in (tmp_path / "report" / "assets" / "c").iterdir())
    assert copied == ["both.mp3", "wav_only.wav"]  # both.wav stays in its samples folder
    assert both["sources"] == [("assets/c/both.mp3", "audio/mpeg")]
    assert [label for _, label in both["links"]] == ["MP3"]
    assert alone["sources"] == [("assets/c/wav_only.wav", "audio/wav")]
    assert alone["links"] == [("assets/c/wav_only.wav", "WAV")]


# --------------------------------------------------------------------------- for people


def test_metrics_read_as_words_with_a_line_each():
    from tunesmith.report.content import metric_text

    assert metric_text("music.ioi_hist_kl").name == "inter-onset intervals: KL divergence"
    assert "0 = the same" in metric_text("music.ioi_hist_kl").explanation
    assert metric_text("music.generated_pitch_range").name == "pitch range (semitones), generated"
    assert metric_text("val.loss").name == "validation loss (nats/symbol)"
    assert metric_text("novelty.mean_8gram_share").name == "share of 8-grams copied"
    assert metric_text("novelty.something_new").name == "something new"  # unknown: the key, spaced


def test_write_report_reads_the_pipeline_folders_and_escapes_what_it_shows(tmp_path):
    from tunesmith.core.io import write_json
    from tunesmith.pipeline.report import report_stage

    corpus = "essen"
    write_json(tmp_path / "eval" / corpus / "evaluate.json", {  # the whole record; metrics/ holds the headline
        "split": "test", "model": {"nll": 1.0}, "baselines": {"kn-3": {"nll": 1.25}},
        "published": {"source": "Someone, <i>A Paper</i>", "metric": "NLL", "values": {"test": 9.99}},
        "training": {"best_epoch": 7}, "music": {"ioi_hist_kl": 0.125}})
    write_json(tmp_path / "models" / corpus / "metrics.json", {"best_epoch": 2, "val": {"loss": 1.1}})
    write_live(tmp_path / "live" / corpus)
    plot_histograms([1, 2], [2, 1], ["a", "b"], tmp_path / "eval" / corpus / "ioi_hist.png", "ioi")
    samples = tmp_path / "samples" / corpus
    samples.mkdir(parents=True)
    (samples / "samples.csv").write_text("sample,seed,error\nsample_000,1,<script>bad</script>\n")
    index = report_stage([corpus], tmp_path / "report", metrics_dir=tmp_path / "metrics",
                         eval_dir=tmp_path / "eval", models_dir=tmp_path / "models", live_dir=tmp_path / "live",
                         samples_dir=tmp_path / "samples")
    page = index.read_text(encoding="utf-8")
    # the headline sentence, the papers by authors and title, readable names in folded tables
    assert "NLL (nats/symbol) <strong>1</strong> on the test split, 0.2500 (20.0%) lower (better)" in page
    assert "Vasudeva H N, &#34;Music Generation using an LSTM model&#34; (2024)" in page
    assert "inter-onset intervals: KL divergence</abbr></td><td>0.1250</td>" in page
    assert '<details class="more"><summary>All metrics' in page
    # evaluate's figure with its caption and explanation; the loss curves drawn from DVCLive
    assert "<strong>Inter-onset intervals, generated vs real</strong>. Time in beats" in page
    assert (index.parent / "assets" / corpus / "ioi_hist.png").is_file()
    assert (index.parent / "assets" / corpus / "loss_curves.png").is_file()
    # the published figures in their own table (escaped), not as metrics; user text is escaped
    assert page.count("9.99") == 1 and "Someone, &lt;i&gt;A Paper&lt;/i&gt;" in page
    assert "published.values" not in page and "training.best_epoch" not in page
    assert "&lt;script&gt;bad&lt;/script&gt;" in page and "<script>" not in page


def test_the_template_ships_as_package_data():
    import tomllib

    root = Path(__file__).resolve().parents[1]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    templates = root / "src" / "tunesmith" / "templates"
    shipped = {p.name for pattern in data["tunesmith"] for p in templates.glob(pattern.split("/", 1)[1])}
    assert {"report.html.j2", "report.css"} <= shipped


def test_the_report_quotes_the_seed_spread_and_says_whose_params_it_is(tmp_path):
    from tunesmith.core.io import write_json
    from tunesmith.evaluation.noise import summarize
    from tunesmith.pipeline.report import report_stage

    corpus = "essen"
    write_json(tmp_path / "eval" / corpus / "evaluate.json", {"split": "test", "model": {"nll": 0.74}})
    write_json(tmp_path / "models" / corpus / "metrics.json", {"best_epoch": 2, "val": {"loss": 1.1}})
    recipe = {"epochs": 22, "learning_rate": 0.003}
    per_seed = {0: {"test_nll": 0.72, "margin_vs_best_ngram_no_cache": 0.18},
                1: {"test_nll": 0.74, "margin_vs_best_ngram_no_cache": 0.19},
                2: {"test_nll": 0.76, "margin_vs_best_ngram_no_cache": 0.20}}
    write_json(tmp_path / "metrics" / corpus / "seeds.json", summarize(per_seed, params=recipe, corpus=corpus))
    folders = {k: tmp_path / k for k in ("eval", "models", "live", "samples")}
    (folders["samples"] / corpus).mkdir(parents=True)
    (folders["samples"] / corpus / "samples.csv").write_text("sample,seed,error\n")

    def page(train_params):
        index = report_stage([corpus], tmp_path / "report", metrics_dir=tmp_path / "metrics",
                             eval_dir=folders["eval"], models_dir=folders["models"], live_dir=folders["live"],
                             samples_dir=folders["samples"], train_params={corpus: train_params})
        return index.read_text(encoding="utf-8")

    same = page({**recipe, "seed": 5})  # another seed of the same recipe
    assert "The recipe over 3 seeds (0, 1, 2)</h4>" in same
    assert "<td>0.740 ± 0.020</td><td>3</td><td>0.720, 0.740, 0.760</td>" in same
    assert "<td>19.0% ± 1.0%</td>" in same
    assert "the figures above are one of these draws" in same
    other = page({**recipe, "epochs": 30})
    assert "for other params than this run's</h4>" in other and "run <code>make noise</code> again" in other


def test_the_headline_is_in_nats_even_when_bits_come_first():
    from tunesmith.report.sections import comparison

    table = comparison({"model": {"bits_per_token": 1.647, "nll": 1.1416},
                        "baselines": {"kn-3": {"bits_per_token": 2.0, "nll": 1.386}}}, "LSTM")
    head = table["headline"]
    assert head["metric"] == "NLL (nats/symbol)" and head["value"] == "1.142" and head["baseline_value"] == "1.386"


def test_numbers_for_people_equal_columns_once_and_published_beside_the_lstm_alone():
    from tunesmith.report.sections import comparison, published_table
    from tunesmith.report.values import fmt

    assert (fmt(49020.0), fmt(49020), fmt(1234567.8), fmt(0.5), fmt(1.2345)) == (
        "49,020", "49,020", "1,234,568", "0.5000", "1.234")
    table = comparison({"model": {"nll": 1.1, "accuracy": 0.6, "event_accuracy": 0.6},
                        "baselines": {"kn-3": {"nll": 1.4, "accuracy": 0.5, "event_accuracy": 0.5}}}, "LSTM")
    assert [c["key"] for c in table["columns"]] == ["nll", "accuracy"]  # no holds: one accuracy column
    published = published_table({"source": "Reitman & Cho", "metric": "NLL", "values": {"validation": 1.72,
                                                                                      "test": 1.65}},
                                {"val": {"loss": 1.16}}, {"nll": 1.06}, {"nll": 1.21})
    assert published["rows"] == [["validation", "1.72", "1.16"], ["test", "1.65", "1.21"]]  # no cache on either side
    assert "alone" in published["ours"]


def test_sample_tags_say_what_sets_a_sample_apart_and_the_settings_are_said_once():
    from tunesmith.report.sections import _tags, sample_settings

    info = {"seed": 3, "sampler": "top_p", "temperature": 1.0, "primer_mode": "test", "primer": "60 64 |",
            "primer_length": 3, "primer_beats": 4.0, "length": 2400, "ended": False, "decoded": True,
            "notes": 310, "seconds": 64.2, "audio_seconds": 60.0, "attempts": 1, "rejected": ""}
    tags = _tags(info)
    assert tags == ["seed: 3", "length: 2,400", "ended: no", "decoded: yes", "notes: 310", "64 s"]
    settings = sample_settings([{"info": info}, {"info": {**info, "seconds": 40.0}}])
    assert settings.startswith("sampler top_p; temperature 1; primer: test (60 64 |)")
    assert "the first 2.0 s of 52 s on average" in settings


def test_the_samples_are_described_in_words_from_the_metrics():

    from tunesmith.report.sections import music_in_words

    metrics = {"music": {"generated_scale_consistency": 0.91, "real_scale_consistency": 0.97,
                         "generated_pitch_range": 19.0, "real_pitch_range": 21.0,
                         "pitch_class_hist_overlap": 0.88, "note_length_hist_overlap": 0.8},
               "playability": {"bar_rate": 0.625}}  # an evaluate record's figures
    words = " ".join(music_in_words(metrics))
    music, play = metrics["music"], metrics["playability"]
    assert f"{music['generated_scale_consistency']:.0%} of the samples' notes fit" in words
    assert f"Bars: {play['bar_rate']:.0%} of the tunes keep every bar" in words
    assert f"{music['generated_pitch_range']:.0f} semitones" in words
    assert music_in_words({}) == []


def test_the_benchmark_table_shows_the_published_rows_and_ours_where_it_ran(tmp_path):
    from tunesmith.core.io import write_json
    from tunesmith.report.entries import benchmark_table

    empty = benchmark_table(tmp_path)
    assert empty["ran"] == [] and [r["model"] for r in empty["rows"]][:3] == [
        "RNN (Boulanger-Lewandowski et al. 2012)", "RNN-RBM (Boulanger-Lewandowski et al. 2012)",
        "RNN-NADE (Boulanger-Lewandowski et al. 2012)"]
    assert not any(r["ours"] for r in empty["rows"]) and empty["lower"] == []
    assert any("Walder 2016" in r["model"] for r in empty["rows"]) and any("Johnson 2017" in r["model"]
                                                                           for r in empty["rows"])
    write_json(tmp_path / "bl_jsb" / "evaluate.json", {"test": {"lstm": {"nll_per_frame": 4.77}}})
    ran = benchmark_table(tmp_path)
    ours = [r for r in ran["rows"] if r["ours"]]
    assert ran["ran"] == ["JSB Chorales"] and len(ours) == 1
    assert ours[0]["cells"] == ["—", "4.77 (n=1)", "—", "—"]
    # Walder's transposed (4.34) and pooled (4.45) LSTMs are lower than 4.77 on JSB: the page says so
    assert ran["lower"] and "JSB Chorales: 2 published rows are lower" in ran["lower"][0]


def test_every_nll_on_the_page_says_its_unit_and_the_headline_is_in_nats(index):
    page = index.read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", " ", page)  # what a reader sees
    named = re.findall(r"[^.;:()\n]{0,40}\bNLL\b[^.;\n]{0,30}", text)
    assert named, "no NLL on the page"
    unlabelled = [n for n in named if "nats" not in n and "bits" not in n]
    assert not unlabelled, unlabelled
    headline = re.search(r'<p class="headline[^>]*>(.*?)</p>', page, re.DOTALL).group(1)
    assert "nats" in headline and "bits" not in headline
