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
