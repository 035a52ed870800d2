"""Shared wording for the MAHA rules (R05, R07): the MAHA label, PLASMIC_LAB and the feature count."""

from __future__ import annotations

from b12stream.clinical.snapshot import Snapshot
from b12stream.clinical.tma import HEMOLYTIC_TP

__all__ = ["maha_label", "scores_paragraph"]


def maha_label(snapshot: Snapshot, short: bool = False) -> str:
    """'MAHA', or the lower-confidence haemolytic thrombocytopenia label (``short`` for summaries)."""
    if snapshot.maha.kind == HEMOLYTIC_TP:
        if short:
            return "Haemolytic TP (no schistocytes)"
        return "Haemolytic thrombocytopenia (without schistocyte confirmation)"
    return "MAHA"


def scores_paragraph(snapshot: Snapshot) -> str:
    """PLASMIC_LAB as 'lab x/5; total x..x+2' and the pseudo-TMA feature count with the features."""
    maha = snapshot.maha
    parts = []
    if maha.plasmic is not None:
        parts.append(maha.plasmic.text() + " (no active cancer / no transplant are not visible in lab data)")
    if maha.features is not None:
        listed = ", ".join(maha.features.present) or "none"
        parts.append(f"pseudo-TMA features {maha.features.count}/6 ({listed})")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "." if parts else ""
