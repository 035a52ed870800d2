"""What terminology leaves out of a message's observations, and why: noted while it reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from b12stream.clinical.analyte_codes import CodeMatch
from b12stream.clinical.result_status import CANCELLED_STATUSES, NORMALISED_STATUSES

__all__ = ["LeftOut", "UnusableResult"]

_CANCELLATION_WITHOUT_TIME = (
    "{analyte}: a cancellation (X) with no time (no OBX-14, OBR-7 or MSH-7) cannot be placed in the "
    "patient's history: it clears no pending order and re-allows no suggestion"
)


class UnusableResult(NamedTuple):
    """A result of a known analyte the engine cannot use and so left out, with why: ids and a reason
    that never quote its value or the patient."""

    analyte: str
    code: str
    reason: str


@dataclass(slots=True)
class LeftOut:
    """The codes left out of one reading, in message order, by why (``TerminologyReading`` says)."""

    unmapped: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    untimed: list[str] = field(default_factory=list)
    unusable: list[UnusableResult] = field(default_factory=list)

    def note_untimed(self, found: CodeMatch, status: str) -> None:
        """A result of ``found``'s analyte with OBX-11 (or OBR-25) ``status`` and no time at all.

        The history places every result it acts on by its collection time. Those the rules read
        (final, pending) or whose removal changes what they read (D, W) cannot do without one: they
        are ``untimed``, which costs the message. A cancellation is read by no rule, but what it does
        (clear pending orders, lift suggestion suppression) happens at its time: it is unusable. The
        history does nothing with any other status, timed or not: nothing is noted.
        """
        status = status.upper()
        if status in CANCELLED_STATUSES:
            reason = _CANCELLATION_WITHOUT_TIME.format(analyte=found.analyte.id)
            self.unusable.append(UnusableResult(found.analyte.id, found.code, reason))
        elif status in NORMALISED_STATUSES:
            self.untimed.append(found.code)
