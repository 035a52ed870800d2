"""`b12stream produce` checks that it can read every file before it sends any message."""

from __future__ import annotations

from pathlib import Path

import pytest

from b12stream.cli import main
from tests.conftest import SAMPLES


def test_an_unreadable_file_is_named_and_nothing_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tests run as root, which reads any file: the refusal a user without permission meets is
    made here. No broker answers at port 1: had produce connected, it would fail there instead."""
    locked = tmp_path / "locked.hl7"
    locked.write_bytes((SAMPLES / "s01-normal-platelets.hl7").read_bytes())
    opened = Path.open

    def refuse(path: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if path == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return opened(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", refuse)
    code = main(["produce", "--bootstrap-servers", "127.0.0.1:1", str(SAMPLES), str(locked)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"b12stream produce: cannot read {locked}: Permission denied" in err.splitlines()
    assert "sent" not in err and "Traceback" not in err
