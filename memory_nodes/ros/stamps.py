"""Message stamps <-> seconds. Light on purpose (no numpy): the planner client imports it."""

from __future__ import annotations

import math

from builtin_interfaces.msg import Time

__all__ = ["optional_stamp", "seconds_to_stamp", "stamp_to_seconds"]


def stamp_to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_stamp(seconds: float) -> Time:
    if not math.isfinite(seconds) or seconds < 0:
        return Time()
    sec = math.floor(seconds)
    nanosec = min(round((seconds - sec) * 1e9), 999_999_999)
    return Time(sec=sec, nanosec=nanosec)


def optional_stamp(stamp: Time, default: float) -> float:
    """A request's stamp in seconds, ``default`` when it is zero (meaning "unset")."""
    return default if stamp.sec == 0 and stamp.nanosec == 0 else stamp_to_seconds(stamp)
