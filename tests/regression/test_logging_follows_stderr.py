"""Logging keeps working when sys.stderr is replaced after configuration (and the old one closed)."""

from __future__ import annotations

import io
import json
import sys

import pytest

from b12stream.log import configure_logging, get_logger


def test_a_log_line_goes_to_the_current_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging()
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    get_logger("test").info("topic created", control_id="MSG1")
    line = json.loads(second.getvalue())
    assert line["event"] == "topic created" and line["control_id"] == "MSG1"
