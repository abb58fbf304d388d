"""Changes of the world as the memories exchange them: what kind, which entity, from where to
where, when. The spatial memory notices them; the temporal, episodic and semantic memories keep,
narrate and learn from them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from memory_nodes.core.errors import InvalidInputError

Position = tuple[float, float, float]


class ChangeKind(StrEnum):
    """What changed. ``MERGED`` and ``SPLIT`` are bookkeeping of identities, not changes of the
    world; ``ENTERED_ROOM`` is the robot's (its entity is the room)."""

    APPEARED = "appeared"
    MOVED = "moved"
    DISAPPEARED = "disappeared"
    REAPPEARED = "reappeared"
    STATE_CHANGED = "state_changed"
    MERGED = "merged"
    SPLIT = "split"
    ENTERED_ROOM = "entered_room"


def change_kind(value: str) -> ChangeKind:
    """``value`` as a ``ChangeKind``; ``InvalidInputError`` names the accepted kinds."""
    try:
        return ChangeKind(value)
    except ValueError:
        raise InvalidInputError(f"unknown change kind {value!r}; one of {', '.join(ChangeKind)}") from None


@dataclass(frozen=True)
class Change:
    """A change of ``entity`` at ``stamp`` (seconds); positions in ``map``, metres. A ``MERGED``
    change names the id it folded into ``entity`` in ``merged_id``."""

    stamp: float
    kind: ChangeKind
    entity: str
    label: str
    from_position: Position
    to_position: Position
    detail: str = ""
    id: str = ""
    merged_id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", change_kind(self.kind))
        if not math.isfinite(self.stamp):
            raise InvalidInputError("change stamp must be finite")
        if self.kind is ChangeKind.MERGED and not self.merged_id:
            raise InvalidInputError(f"a merged change of {self.entity!r} must name the merged id")
