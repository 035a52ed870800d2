"""Patient tokens in log lines: stable, and keyed by a site's secret when one is set, so that nobody
holding the logs can find a patient's token by hashing candidate MRNs."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from b12stream.log import PATIENT_HASH_KEY_VARIABLE, patient_hash

KEY = "HOSP|123456"


def test_a_token_is_stable_and_does_not_show_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PATIENT_HASH_KEY_VARIABLE, raising=False)
    assert patient_hash(KEY) == patient_hash(KEY) != patient_hash("HOSP|123457")
    assert "123456" not in patient_hash(KEY) and len(patient_hash(KEY)) == 16


def test_with_a_site_secret_the_token_cannot_be_found_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PATIENT_HASH_KEY_VARIABLE, raising=False)
    plain = patient_hash(KEY)
    monkeypatch.setenv(PATIENT_HASH_KEY_VARIABLE, "site secret")
    keyed = patient_hash(KEY)
    assert keyed != plain
    assert keyed == hmac.new(b"site secret", KEY.encode(), hashlib.sha256).hexdigest()[:16]
    monkeypatch.setenv(PATIENT_HASH_KEY_VARIABLE, "another site")
    assert patient_hash(KEY) != keyed
