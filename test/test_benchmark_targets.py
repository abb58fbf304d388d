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


def test_the_peer_rows_are_judged_by_their_ratio_to_the_peer():
    from bench_peer import rows

    figures = {"ingest_obs_per_s": 900.0, "where_ms": 5.0, "where_right": 1.0, "where_newest_right": 0.9,
               "near_ms": 0.5, "near_recall": 1.0, "near_stale": 0.0, "window_ms": 8.0, "window_recall": 1.0,
               "search_ms": 1.0, "search_recall": 1.0, "memory_mb": 100.0, "process_mb": 300.0, "disk_mb": 4.0}
    peer = {**figures, "ingest_obs_per_s": 1800.0, "where_ms": 6.0, "near_ms": 4.0, "memory_mb": 60.0}
    table = {measure: value for measure, value, _ in rows({"ours": figures, "emem": peer, "sqlite+faiss": figures})}
    ingest = next(m for m in table if "ingest" in m)
    assert table[ingest] == "0.50x eMEM" and verdict(ingest, table[ingest]) == "FAIL"
    near = next(m for m in table if "within 2 m" in m)
    assert verdict(near, table[near]) == "PASS"  # 8x faster than eMEM
    memory = next(m for m in table if "resident memory" in m)
    assert verdict(memory, table[memory]) == "FAIL"  # 60 MB for eMEM vs 100 MB for us


def test_the_peer_stream_moves_objects_and_sees_them_at_their_new_place():
    import numpy as np
    from bench_peer import MOVES, OBSERVATIONS, make_stream, place_at

    stream = make_stream(np.zeros((200, 384), dtype=np.float32), seed=3)
    assert sum(len(seen) for _, seen in stream.frames) == OBSERVATIONS
    assert len(stream.moved) == MOVES and all(len(stream.positions[i]) == 2 for i in stream.moved)
    last = stream.frames[-1][0]
    seen_after_move = [i for i in stream.moved
                       if any(k == i and stamp >= stream.positions[i][1][0] for stamp, seen in stream.frames
                              for k, _ in seen)]
    assert len(seen_after_move) >= 0.8 * MOVES  # the stream shows most moved objects at their new place
    thing = stream.moved[0]
    assert np.allclose(place_at(stream, thing, last), stream.positions[thing][1][1])
