"""params.yaml -> typed config: every bad value stops with the key and the value named."""

from __future__ import annotations

import pytest
import yaml

from tunesmith.config.load import build, load_params, section
from tunesmith.config.stages import EncodeConfig, FetchConfig, PrepareConfig, VocabConfig
from tunesmith.core.errors import ConfigError


def test_repo_params_build_for_every_track():
    params = load_params("params.yaml")
    for track in params["tracks"]:
        assert build(FetchConfig, section(params, f"fetch.{track}"), f"fetch.{track}").source == "bundled"
        build(PrepareConfig, section(params, f"prepare.{track}"), f"prepare.{track}")
        build(EncodeConfig, section(params, f"encode.{track}"), f"encode.{track}")
        build(VocabConfig, section(params, f"vocab.{track}"), f"vocab.{track}")


def test_repo_params_download_subsets_exist_in_the_packaged_manifests():
    from tunesmith.sources.manifest import packaged_manifest

    params = load_params("params.yaml")
    for track in params["tracks"]:
        key = f"fetch.{track}"
        cfg = build(FetchConfig, {**section(params, key), "source": "download"}, key)
        files = packaged_manifest(track).select(cfg.subsets, key=f"{key}.subsets")
        assert files and cfg.mirror == ""


def test_values_are_typed_and_frozen():
    cfg = build(PrepareConfig, {"acceptable_durations": [0.25, 1], "transpose": True}, "prepare.essen")
    assert cfg.acceptable_durations == (0.25, 1.0)
    with pytest.raises(AttributeError):
        cfg.transpose = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("cls", "data", "message"),
    [
        (PrepareConfig, {"transpose": "yes"}, "prepare.essen.transpose must be true or false, got 'yes'"),
        (PrepareConfig, {"acceptable_duration": [1]},
         "prepare.essen: unknown key 'acceptable_duration' (did you mean 'acceptable_durations'?)"),
        (PrepareConfig, {"headers": "some"}, "prepare.essen.headers must be one of all, musical, got 'some'"),
        (PrepareConfig, {"frames_per_beat": 4, "fs": 100.0}, "prepare.essen.frames_per_beat must be > 0 or fs > 0"),
        (PrepareConfig, {"pitch_low": 90, "pitch_high": 30}, "prepare.essen.pitch_low must be <= pitch_high"),
        (PrepareConfig, {"acceptable_durations": [0.25, "x"]},
         "prepare.essen.acceptable_durations[1] must be a number, got 'x'"),
        (EncodeConfig, {"split": {"train": 0.8, "validation": 0.3, "test": 0.1}},
         "prepare.essen.split.train + validation + test must sum to 1, got 1.2"),
        (EncodeConfig, {"time_step": 0}, "prepare.essen.time_step must be > 0, got 0"),
        (VocabConfig, {"min_count": 1.5}, "prepare.essen.min_count must be an integer, got 1.5"),
        (FetchConfig, {"source": "ftp", "collections": ["x"]},
         "prepare.essen.source must be one of bundled, download, local, got 'ftp'"),
        (FetchConfig, {"source": "local"}, "prepare.essen.local_dir must name a folder"),
        (FetchConfig, {"source": "download", "mirror": "ftp://x"},
         "prepare.essen.mirror must be empty or start with http:// or https://, got 'ftp://x'"),
        (FetchConfig, {"source": "download", "mirror": "http://m", "method": "archive"},
         "prepare.essen.method must be auto or files when a mirror is set"),
        (FetchConfig, {"source": "download", "method": "torrent"},
         "prepare.essen.method must be one of auto, archive, files, got 'torrent'"),
        (FetchConfig, {"source": "download", "subsets": ["erk/x"]},
         "prepare.essen.subsets[0] must name one folder or file (no '/'), got 'erk/x'"),
        (FetchConfig, {"source": "download", "archives": [{"url": "https://x"}]},
         "prepare.essen: unknown key 'archives'"),
    ],
    ids=["bool", "typo", "choice", "both-resolutions", "range", "list-item", "split-sum", "time-step",
         "int", "source", "local-dir", "mirror", "mirror-archive", "method", "subset-path", "old-archives"],
)
def test_bad_values_name_key_and_value(cls, data, message):
    with pytest.raises(ConfigError) as err:
        build(cls, data, "prepare.essen")
    assert message in str(err.value)


def test_missing_section_names_what_exists(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"prepare": {"essen": {}}}))
    with pytest.raises(ConfigError, match=r"prepare.nottingham: missing key 'nottingham' in prepare \(has: essen\)"):
        section(load_params(path), "prepare.nottingham")


def test_bad_yaml_names_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("prepare: [unclosed\n")
    with pytest.raises(ConfigError, match=r"params\.yaml is not valid YAML"):
        load_params(path)
