"""Which of two changelog states of one patient an at-least-once restore keeps."""

from __future__ import annotations

__all__ = ["supersedes"]


def supersedes(stamp: int | None, kept: int | None, resume: int) -> bool:
    """Whether a state stamped ``stamp`` replaces the state kept so far for its patient, stamped
    ``kept`` and written before it, in a restore under at-least-once that resumes reading the
    stateful partition at offset ``resume``.

    A stamp is the offset of the stateful partition after the last message its state reflects, and
    every instance builds its states on the restored ones, so the state with the higher stamp holds
    more of the patient's results, whoever wrote it and whenever. A state written later with a lower
    stamp comes from an instance that had lost the partition while holding a batch (nothing fences
    it under at-least-once) and must not win. Of equal stamps, the later one wins: the same input.
    A kept state stamped past ``resume`` (a row of the state file, after the group's offsets were
    set back) reflects input that is read again, and gives way as it did before stamps were
    compared. A stamp not known (a row written by an earlier b12stream, a record without the
    header) leaves the written order to decide, as before.
    """
    return stamp is None or kept is None or kept > resume or stamp >= kept
