from __future__ import annotations

from pathlib import Path

import pytest

from gazecxr.config import load_config
from gazecxr.experiment import ExperimentConfig
from gazecxr.runinfo import init_run_dir
from gazecxr.schema import ConfigError


def test_shipped_configs_validate(repo_root: Path) -> None:
    """Every YAML under configs/ validates against the schema of the command that reads it."""
    from gazecxr.anatomy.config import AnatomyConfig
    from gazecxr.config import read_yaml, to_dict
    from gazecxr.synth.config import SynthConfig
    from gazecxr.train.ablate import load_spec

    def leaves(d: dict, prefix: str = "") -> dict:
        out = {}
        for k, v in d.items():
            out.update(leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    files = sorted((repo_root / "configs").rglob("*.yaml"))
    assert len(files) >= 3, "configs missing"
    for path in files:
        if path.name.startswith("ablation"):
            spec, experiment = load_spec(path)
            for overrides in spec.variants.values():  # every variant's overrides are valid keys
                load_config(experiment, overrides)
            continue
        model = (
            SynthConfig
            if path.parent.name == "synth"
            else AnatomyConfig
            if path.name == "anatomy.yaml"
            else ExperimentConfig
        )
        cfg = to_dict(load_config(path, model=model))
        # Every value the file (with its base chain) sets is the value the run gets.
        for key, value in leaves(read_yaml(path)).items():
            got = cfg
            for part in key.split("."):
                got = got[part]
            assert got == value or (isinstance(got, list) and list(value) == got), (path, key, got, value)


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  backbon: vit\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "model.backbon" in msg and str(path) in msg and "model.backbone" in msg


def test_wrong_type_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochs: many\n")
    with pytest.raises(ConfigError, match="train.epochs"):
        load_config(path)


def test_overrides_and_base(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("train:\n  epochs: 3\n  lr: 0.1\n")
    (tmp_path / "child.yaml").write_text("base: base.yaml\ntrain:\n  epochs: 5\n")
    cfg = load_config(tmp_path / "child.yaml", ["loss.gaze.enabled=false", "model.backbone=vit"])
    assert cfg.train.epochs == 5 and cfg.train.lr == 0.1
    assert cfg.loss.gaze.enabled is False and cfg.model.backbone == "vit"
    with pytest.raises(ConfigError, match="command line"):
        load_config(tmp_path / "child.yaml", ["train.epoch=2"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["train.epochs"])


def test_base_loop_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="loops"):
        load_config(tmp_path / "a.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_run_dir_records_provenance(tmp_path: Path) -> None:
    cfg = load_config(None, ["seed=7"])
    run = init_run_dir(tmp_path / "run", cfg, seed=7, argv=["gazecxr", "train"])
    import json

    import yaml

    record = json.loads((run / "run.json").read_text())
    assert record["seed"] == 7 and record["command"] == ["gazecxr", "train"]
    assert record["versions"]["torch"] and "git_revision" in record
    assert yaml.safe_load((run / "config.yaml").read_text())["seed"] == 7


def test_dictation_target_requires_its_maps_and_per_label_attention() -> None:
    base = ["loss.gaze.target=dictation"]
    with pytest.raises(ConfigError, match="gaze.dictation_maps=true"):
        load_config(None, base)
    with pytest.raises(ConfigError, match="one attention map per label"):
        load_config(None, [*base, "gaze.dictation_maps=true", "model.attention=shared"])
    with pytest.raises(ConfigError, match="gaze.phase=silent"):
        load_config(None, [*base, "gaze.dictation_maps=true", "gaze.phase=silent"])
    assert load_config(None, [*base, "gaze.dictation_maps=true"]).loss.gaze.target == "dictation"


def test_the_paper_config_asks_for_as_many_loader_workers_as_the_machine_has(repo_root: Path) -> None:
    import os

    cfg = load_config(repo_root / "configs" / "mimic-eye-paper.yaml")
    cores = len(os.sched_getaffinity(0))
    assert cfg.data.num_workers == "auto" and cfg.data.loader_workers() == max(0, min(8, cores - 1))
    assert load_config(repo_root / "configs" / "synthetic.yaml").data.loader_workers() == 0
