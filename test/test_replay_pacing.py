"""memory_replay --rate 0 waits for the frames that change the memory, and not for the others."""

from __future__ import annotations

import time

import pytest

from memory_nodes.apps.replay import UpdatePacer


def test_frames_between_periodic_updates_are_not_waited_for():
    """Geometric discovery once per second of stamps, frames at 30 Hz: after two updates the
    pacer expects the next one a second after the last, and waits for no frame before it."""
    pacer = UpdatePacer(first_timeout_s=20.0)
    now = 0.0
    expected = []
    for k in range(120):
        stamp = k / 30.0
        pacer.sent(stamp, now)
        expected.append(pacer.expects_update(stamp))
        if k % 30 == 0:  # perception discovers objects on this frame; the update comes 0.2 s later
            pacer.updated(stamp, now + 0.2)
        now += 0.01
    # Until two updates were seen every frame was expected; after, only the frames that update.
    assert all(expected[:31])
    assert [k for k in range(31, 120) if expected[k]] == [60, 90]
    assert pacer.wait_s() == pytest.approx(1.0)  # five times the measured 0.2 s latency


def test_every_frame_is_waited_for_when_every_frame_updates():
    pacer = UpdatePacer()
    for k in range(10):
        pacer.sent(k * 0.1, k * 1.0)
        pacer.updated(k * 0.1, k * 1.0 + 0.05)
    assert pacer.expects_update(1.0) and pacer.expects_update(1.1)
    assert pacer.wait_s() == pytest.approx(0.5)  # at least half a second, however fast the nodes answered


def test_a_frame_that_never_updates_costs_the_learned_wait_not_the_full_timeout():
    pacer = UpdatePacer(first_timeout_s=20.0)
    for k in range(5):
        pacer.sent(float(k), 0.0)
        pacer.updated(float(k), 0.1)
    pacer.sent(5.0, time.monotonic())
    started = time.monotonic()
    pacer.wait_for(5.0)  # lost on the way: no update will come
    assert time.monotonic() - started < 1.0 and pacer.timed_out == 1
    pacer.updated(6.0, time.monotonic())
    started = time.monotonic()
    pacer.wait_for(6.0)  # already there
    assert time.monotonic() - started < 0.1 and pacer.timed_out == 1


def test_a_memory_that_never_updates_stops_costing_the_full_timeout_after_a_few_frames():
    """Perception waiting for detections that a folder without boxes never sends: the first frames
    wait the full timeout, then the memory counts as silent and each frame waits only
    silent_wait_s; the first update ends that."""
    pacer = UpdatePacer(first_timeout_s=0.3, silent_frames=3, silent_wait_s=0.02)
    for k in range(3):
        pacer.sent(float(k), time.monotonic())
        started = time.monotonic()
        pacer.wait_for(float(k))
        assert time.monotonic() - started >= 0.3
    assert pacer.silent and pacer.wait_s() == pytest.approx(0.02)
    pacer.sent(3.0, time.monotonic())
    started = time.monotonic()
    pacer.wait_for(3.0)
    assert time.monotonic() - started < 0.25 and pacer.timed_out == 4
    pacer.updated(3.0, time.monotonic())
    assert not pacer.silent and pacer.wait_s() == pytest.approx(0.3)  # the learned wait (>= 0.5 s) capped by the timeout
