"""Suggested-order sets (spec 2.4) and R11 (a)/(b) coverage by valid or pending results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from b12stream.clinical.model import SuggestedOrder
from b12stream.clinical.rules_config import RulesConfig, Window
from b12stream.clinical.view import HistoryView, days

__all__ = [
    "OS_A13",
    "OS_A13I",
    "OS_B12",
    "OS_CBC",
    "OS_FILM",
    "OS_FOL",
    "OS_HCY",
    "OS_HEMO",
    "OS_IF",
    "OS_MMA",
    "OS_PCA",
    "Coverage",
    "OrderItem",
    "order_items",
]

OS_B12 = "OS-B12"
OS_FOL = "OS-FOL"
OS_FILM = "OS-FILM"
OS_MMA = "OS-MMA"
OS_HCY = "OS-HCY"
OS_IF = "OS-IF"
OS_PCA = "OS-PCA"
OS_HEMO = "OS-HEMO"
OS_A13 = "OS-A13"
OS_A13I = "OS-A13I"
OS_CBC = "OS-CBC"

_B12_CHOICES = {
    "2132-9": ("b12_total", "Vitamin B12 (cobalamin), serum/plasma"),
    "14685-2": ("b12_total", "Vitamin B12 (cobalamin), serum/plasma (molar)"),
    "72160-5": ("b12_active", "Active B12 (holotranscobalamin), serum"),
}
_IF_CHOICES = {
    "31443-5": "Intrinsic factor antibody",
    "31444-3": "Intrinsic factor blocking antibody",
}


@dataclass(frozen=True, slots=True)
class OrderItem:
    """One orderable of a set; it is covered by a final or pending result of any ``covered_by`` analyte."""

    order_set: str
    analyte: str
    loinc: str
    display: str
    covered_by: tuple[str, ...]


def order_items(order_set: str, config: RulesConfig) -> tuple[OrderItem, ...]:
    """The orderables of a set with the site's code choices (B12 code, IF-antibody code)."""
    choice = config.orders
    if order_set == OS_B12:
        analyte, display = _B12_CHOICES.get(choice.b12_loinc, ("b12_total", "Vitamin B12"))
        return (OrderItem(OS_B12, analyte, choice.b12_loinc, display, ("b12_total", "b12_active")),)
    if order_set == OS_IF:
        display = _IF_CHOICES.get(choice.intrinsic_factor_loinc, "Intrinsic factor antibody")
        return (
            OrderItem(
                OS_IF, "intrinsic_factor_ab", choice.intrinsic_factor_loinc, display, ("intrinsic_factor_ab",)
            ),
        )
    return _FIXED[order_set]


_FIXED: dict[str, tuple[OrderItem, ...]] = {
    OS_FOL: (OrderItem(OS_FOL, "folate", "2284-8", "Folate, serum/plasma", ("folate",)),),
    OS_FILM: (
        OrderItem(
            OS_FILM,
            "blood_film",
            "18314-5",
            "Blood film review: comment on schistocytes (800-3) and hypersegmented neutrophils (765-8)",
            ("blood_film", "schistocytes", "hypersegmented_neutrophils"),
        ),
    ),
    OS_MMA: (OrderItem(OS_MMA, "mma", "13964-2", "Methylmalonic acid, serum/plasma", ("mma",)),),
    OS_HCY: (
        OrderItem(OS_HCY, "homocysteine", "13965-9", "Homocysteine, total, serum/plasma", ("homocysteine",)),
    ),
    OS_PCA: (
        OrderItem(OS_PCA, "parietal_cell_ab", "8087-9", "Parietal cell antibody", ("parietal_cell_ab",)),
    ),
    OS_HEMO: (
        OrderItem(OS_HEMO, "ldh", "2532-0", "Lactate dehydrogenase (LDH)", ("ldh",)),
        OrderItem(OS_HEMO, "haptoglobin", "4542-7", "Haptoglobin", ("haptoglobin",)),
        OrderItem(
            OS_HEMO,
            "bilirubin_indirect",
            "1971-1",
            "Bilirubin, indirect",
            ("bilirubin_indirect", "bilirubin_total"),
        ),
        OrderItem(
            OS_HEMO,
            "reticulocytes_abs",
            "60474-4",
            "Reticulocytes, absolute",
            ("reticulocytes_abs", "reticulocytes_pct"),
        ),
    ),
    OS_A13: (OrderItem(OS_A13, "adamts13_activity", "53622-7", "ADAMTS13 activity", ("adamts13_activity",)),),
    OS_A13I: (
        OrderItem(
            OS_A13I, "adamts13_inhibitor", "40824-5", "ADAMTS13 inhibitor/antibody", ("adamts13_inhibitor",)
        ),
    ),
    OS_CBC: (OrderItem(OS_CBC, "cbc", "58410-2", "CBC panel", ("cbc",)),),
}

_WINDOW_NAMES = {
    OS_B12: "b12",
    OS_FOL: "folate",
    OS_FILM: "film",
    OS_MMA: "mma",
    OS_HCY: "homocysteine",
    OS_IF: "intrinsic_factor",
    OS_PCA: "parietal_cell",
    OS_HEMO: "hemolysis",
    OS_A13: "adamts13",
    OS_A13I: "adamts13_inhibitor",
    OS_CBC: "cbc",
}


@dataclass(frozen=True, slots=True)
class Coverage:
    """R11 (a) result validity and (b) pending coverage at the view's time.

    ``episode_start`` bounds the ADAMTS13 sets ("current episode, ≤30 d"); ``b12_deficient``
    extends OS-B12 validity to 365 d.
    """

    view: HistoryView
    config: RulesConfig
    episode_start: datetime | None
    b12_deficient: bool

    def _window(self, order_set: str) -> Window:
        window: Window = getattr(self.config.suggestions, _WINDOW_NAMES[order_set])
        return window

    def _result_since(self, order_set: str) -> datetime:
        rules = self.config.suggestions
        validity = self._window(order_set).validity_days
        if order_set == OS_B12 and self.b12_deficient:
            validity = max(validity, rules.b12_deficient_validity_days)
        since = self.view.at - days(validity)
        if order_set in (OS_A13, OS_A13I) and self.episode_start is not None:
            since = max(since, self.episode_start)
        return since

    def covered(self, item: OrderItem) -> bool:
        """True when a final result lies inside the set's validity window or an order is pending."""
        if self.view.results(item.covered_by, self._result_since(item.order_set)):
            return True
        pending_days = self._window(item.order_set).pending_days
        return pending_days > 0 and bool(
            self.view.pending_records(item.covered_by, self.view.at - days(pending_days))
        )

    def result_within(self, order_set: str, window_days: float) -> bool:
        """A final result of the set within an explicit window (R09 'no film in 14 d')."""
        analytes = [name for item in order_items(order_set, self.config) for name in item.covered_by]
        return bool(self.view.results(analytes, self.view.at - days(window_days)))

    def suggest(
        self, order_set: str, priority: str = "routine", note: str = ""
    ) -> tuple[SuggestedOrder, ...]:
        """The set's orderables that are not covered (per component for OS-HEMO)."""
        return tuple(
            SuggestedOrder(item.analyte, item.loinc, item.display, priority, order_set, note)
            for item in order_items(order_set, self.config)
            if not self.covered(item)
        )
