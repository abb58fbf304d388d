"""A ROS domain for a run of the test suite or of a scenario (``make eval``, ``make demo``): one
that no other such run reserved (domain_coordinator) and in which no DDS participant on this host
is live, so that another ROS graph here (a robot's stack, a simulator, another checkout's tests, on
whatever domain they use) neither feeds nor hears the run's nodes, and no foreign participant's
discovery traffic reaches them."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Callable

# RTPS well-known ports (DDSI-RTPS 2.5, 9.6.1.1): PB + DG * domain + d1 + PG * participant is the
# discovery (metatraffic) unicast port of a participant; a live participant keeps its port bound.
_PORT_BASE, _DOMAIN_GAIN, _PARTICIPANT_GAIN, _DISCOVERY_UNICAST = 7400, 250, 2, 10
_PARTICIPANTS_PROBED = 4  # ids are taken lowest first: a live domain holds one of the first few


def participants_live_on(domain: int) -> bool:
    """Some DDS participant on this host uses ``domain`` (one of its first participants' discovery
    ports is bound)."""
    for participant in range(_PARTICIPANTS_PROBED):
        port = _PORT_BASE + _DOMAIN_GAIN * domain + _DISCOVERY_UNICAST + _PARTICIPANT_GAIN * participant
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("", port))
            except OSError:
                return True
    return False


def quiet_domain_selector(first: int = 1, last: int = 100,
                          live: Callable[[int], bool] = participants_live_on) -> Callable[[], int]:
    """A ``domain_coordinator.domain_id`` selector that offers the domains ``first``..``last`` in turn,
    skipping those in which a DDS participant is live (when every one is live, the next in turn all
    the same; domain_coordinator gives up after 100 offers)."""
    offers = itertools.cycle(range(first, last + 1))

    def select() -> int:
        for _ in range(last - first + 1):
            domain = next(offers)
            if not live(domain):
                return domain
        return next(offers)

    return select
