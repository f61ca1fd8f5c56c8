"""The command line: refusals read as one line with their code, never a traceback."""

from __future__ import annotations

from click.testing import CliRunner

from clearinghouse.cli import main


def test_a_refused_close_prints_its_code_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("CLEARINGHOUSE_HUB_KEY_PATH", str(tmp_path / "hub.pem"))
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    malformed = runner.invoke(main, ["--db", database, "close-period", "2026-13"])
    assert malformed.exit_code == 1
    assert "PERIOD_MALFORMED" in malformed.output and "Traceback" not in malformed.output
    assert runner.invoke(main, ["--db", database, "close-period", "2026-10"]).exit_code == 0
    again = runner.invoke(main, ["--db", database, "close-period", "2026-10"])
    assert again.exit_code == 1 and "PERIOD_ALREADY_CLOSED" in again.output
    behind = runner.invoke(main, ["--db", database, "close-period", "2026-09"])
    assert behind.exit_code == 1 and "PERIOD_OUT_OF_ORDER" in behind.output
