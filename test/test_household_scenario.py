"""The main job end to end: the flat scenario in pybullet through the real nodes, scored against the
simulator's ground truth, with the thresholds the package promises."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import install_prefix

from memory_nodes.apps.household_sim import load_scenario
from memory_nodes.apps.scenario_runner import ScenarioRun, format_scorecard
from memory_nodes.core.errors import ConfigError

SCENARIOS = install_prefix() / "share" / "memory_nodes" / "config" / "scenarios"


def test_three_layouts_ship_and_load():
    loaded = {p.stem: load_scenario(p) for p in sorted(SCENARIOS.glob("*.yaml"))}
    assert set(loaded) >= {"flat", "studio", "house"}
    for scenario in loaded.values():
        kinds = {o.label for o in scenario.objects}
        assert len(scenario.objects) >= 10 and len(kinds) >= 6
        assert any("move" in e for e in scenario.events) and any("remove" in e for e in scenario.events)
        assert any("add" in e for e in scenario.events)
    layouts = {tuple(sorted(s.furniture)) for s in loaded.values()}
    assert len(layouts) == len(loaded)


def test_flat_scenario_scores_above_thresholds(tmp_path):
    run = ScenarioRun(SCENARIOS / "flat.yaml", tmp_path, seed=0, progress=False)
    scores = {s.measure: s for s in run.run()}
    card = format_scorecard(list(scores.values()))
    assert scores["one memory object per real object"].value >= 0.9, card
    assert scores["position error, median (m)"].value < 0.10, card
    assert scores["moves and removals noticed"].value >= 0.9, card
    assert scores["ids stable across revisits and moves"].value >= 0.9, card
    assert scores["pose at a past time (before the move)"].value >= 0.9, card
    assert scores["how many mug?"].passed, card
    # "the mug on the kitchen table": furniture the detector never reports, named by the map
    assert scores["top-1 is the instance the qualifier names"].value >= 0.9, card
    assert scores["'which task failed?'"].passed, card
    assert (tmp_path / "flat_map.png").stat().st_size > 10_000 and (tmp_path / "flat_scene_graph.png").is_file()


def test_broken_scenarios_are_refused(tmp_path):
    text = (SCENARIOS / "flat.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("stands_on: desk", "stands_on: piano"))
    with pytest.raises(ConfigError, match="piano"):
        load_scenario(bad)
    bad.write_text(text.replace("move: mug1", "move: unicorn"))
    with pytest.raises(ConfigError, match="unicorn"):
        load_scenario(bad)
    bad.write_text(text.replace("shape: duck", "shape: dragon"))
    with pytest.raises(ConfigError, match="dragon"):
        load_scenario(bad)
    with pytest.raises(ConfigError):
        load_scenario(Path(tmp_path / "missing.yaml"))
