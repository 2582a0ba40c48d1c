"""A bad GROUNDSWELL_* setting is one error line naming it, with exit code 2, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from groundswell.cli import main


def test_a_setting_out_of_range_is_one_error_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GROUNDSWELL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GROUNDSWELL_INVITE_DAYS", "0")
    monkeypatch.setattr(sys, "argv", ["groundswell", "worker", "invite", "x@example.org"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["Error: setting GROUNDSWELL_INVITE_DAYS='0': Input should be greater than 0"]
