"""Which PID-3 identifier is the patient: a configurable rule over the identifier repetitions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

from b12stream.clinical.model import PatientKey
from b12stream.config_file import shown
from b12stream.errors import ConfigError
from b12stream.hl7.model import PatientIdentifier

__all__ = ["KeyRule", "choose_patient_key"]


@dataclass(frozen=True, slots=True)
class KeyRule:
    """How to pick the patient key from PID-3.

    - ``repetition`` (1-based): when set, exactly that PID-3 repetition is the key, nothing else.
    - otherwise the first repetition whose identifier type (PID-3.5) is ``identifier_type``
      (case-insensitive), and, when ``assigning_authority`` is set, whose authority equals it;
    - then, if ``fallback_to_first``, the first repetition that passes the authority filter.

    Repetitions with an empty id are never chosen. The key is id + assigning authority, so one MRN
    from two authorities is two patients.
    """

    identifier_type: str = "MR"
    assigning_authority: str = ""
    repetition: int | None = None
    fallback_to_first: bool = True

    @classmethod
    def from_mapping(cls, settings: Mapping[str, object] | None, where: str = "patient_key") -> KeyRule:
        """A rule from a configuration mapping; raises `ConfigError` naming an unknown or bad key under
        ``where`` (the file and section the mapping came from) and showing the bad value."""
        if not settings:
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown setting {unknown[0]!r} (known: {sorted(known)})")
        rule = cls(**settings)  # type: ignore[arg-type]
        rule._check(where)
        return rule

    def _check(self, where: str) -> None:
        for name in ("identifier_type", "assigning_authority"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ConfigError(f"{where}.{name} must be text, got {shown(value, name)}")
        repetition = self.repetition
        if repetition is not None and (
            not isinstance(repetition, int) or isinstance(repetition, bool) or repetition < 1
        ):
            got = shown(repetition, "repetition")
            raise ConfigError(f"{where}.repetition must be a whole number >= 1, got {got}")
        if not isinstance(self.fallback_to_first, bool):
            got = shown(self.fallback_to_first, "fallback_to_first")
            raise ConfigError(f"{where}.fallback_to_first must be true or false, got {got}")


def choose_patient_key(ids: Sequence[PatientIdentifier], rule: KeyRule) -> PatientKey | None:
    """The patient key the rule picks from PID-3 repetitions, or None when none qualifies."""
    if rule.repetition is not None:
        if rule.repetition > len(ids):
            return None
        return _key(ids[rule.repetition - 1])
    candidates = [
        identifier
        for identifier in ids
        if identifier.id.strip()
        and (not rule.assigning_authority or identifier.assigning_authority == rule.assigning_authority)
    ]
    wanted = rule.identifier_type.casefold()
    for identifier in candidates:
        if identifier.identifier_type.casefold() == wanted:
            return _key(identifier)
    if rule.fallback_to_first and candidates:
        return _key(candidates[0])
    return None


def _key(identifier: PatientIdentifier) -> PatientKey | None:
    if not identifier.id.strip():
        return None
    return PatientKey(id=identifier.id.strip(), assigning_authority=identifier.assigning_authority.strip())
