"""make bench checks each figure against the target its measure states (benchmarks/run_all.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from run_all import verdict


def test_a_figure_within_its_target_passes_and_one_beyond_fails():
    assert verdict("frame: lift + update, median (target <= 25 ms)", "8.4 ms") == "PASS"
    assert verdict("frame: lift + update, median (target <= 25 ms)", "31.0 ms") == "FAIL"
    assert verdict("temporal ingestion (target >= 100k obs/s)", "486,498 obs/s") == "PASS"
    assert verdict("temporal ingestion (target >= 100k obs/s)", "99,000 obs/s") == "FAIL"
    assert verdict("recovery (target < 3 s)", "3.0 s") == "FAIL"


def test_several_targets_are_checked_in_order():
    measure = "where_is (targets: median <= 3x, p99 <= 10x the floor)"
    assert verdict(measure, "1.9x median, 1.6x p99") == "PASS"
    assert verdict(measure, "3.5x median, 1.6x p99") == "FAIL"
    assert verdict(measure, "1.9x median, 12.0x p99") == "FAIL"


def test_a_measure_without_a_target_has_no_verdict():
    assert verdict("service floor: std_srvs/Trigger round trip", "0.55 ms median") == ""
