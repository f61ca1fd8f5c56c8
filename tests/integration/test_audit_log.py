"""The audit trail is hash-chained and append-only; `audit-verify` names the first row that does not match."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from clearinghouse import audit
from clearinghouse.cli import main
from clearinghouse.db import unit_of_work
from clearinghouse.hub import Hub
from clearinghouse.services.partners import ADMIN, authenticate_credential, issue_api_token
from tests.conftest import NOW


def _append(hub: Hub, n: int) -> None:
    for i in range(n):
        with unit_of_work(hub.engine) as uow:
            audit.append(
                uow.connection,
                actor="admin:alice",
                action="test.step",
                subject=f"thing:{i}",
                now=NOW,
                before={"n": i},
                after={"n": i + 1, "名": "眼镜"},
            )
            uow.commit()


def _tamper(hub: Hub, statement: str) -> None:
    """Change a stored row behind the application's back (what an attacker with database access could do)."""
    with hub.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER audit_log_append_only_update")
            connection.exec_driver_sql("DROP TRIGGER audit_log_append_only_delete")
        else:
            connection.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        connection.exec_driver_sql(statement)


def test_an_untouched_chain_verifies(hub: Hub) -> None:
    _append(hub, 5)
    report = audit.verify(hub.engine)
    assert (report.ok, report.rows) == (True, 5)
    assert [e.seq for e in audit.entries(hub.engine)] == [1, 2, 3, 4, 5]
    assert audit.entries(hub.engine, subject_prefix="thing:3")[0].after == {"n": 4, "名": "眼镜"}


def test_the_database_refuses_to_change_an_entry(hub: Hub) -> None:
    _append(hub, 1)
    with pytest.raises(Exception, match="append-only"), hub.engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET actor = 'mallory'"))
    with pytest.raises(Exception, match="append-only"), hub.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log"))


@pytest.mark.parametrize(
    ("statement", "bad_seq"),
    [
        ("UPDATE audit_log SET after_json = '{\"n\":99}' WHERE seq = 3", 3),
        ("UPDATE audit_log SET actor = 'admin:mallory' WHERE seq = 2", 2),
        ("DELETE FROM audit_log WHERE seq = 4", 5),
        ("UPDATE audit_log SET prev_hash = row_hash WHERE seq = 5", 5),
    ],
)
def test_a_changed_or_missing_row_is_named(hub: Hub, statement: str, bad_seq: int) -> None:
    _append(hub, 6)
    _tamper(hub, statement)
    report = audit.verify(hub.engine)
    assert report.first_bad_seq == bad_seq, report


def test_verify_command_exits_1_and_names_the_row(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEARINGHOUSE_HUB_KEY_PATH", hub.config.hub_key_path)
    _append(hub, 3)
    runner = CliRunner()
    args = ["--db", hub.config.database_url, "audit-verify"]
    ok = runner.invoke(main, args)
    assert ok.exit_code == 0, ok.output
    assert "3 rows" in ok.output
    _tamper(hub, "UPDATE audit_log SET subject = 'thing:x' WHERE seq = 2")
    broken = runner.invoke(main, args)
    assert broken.exit_code == 1
    assert "seq 2" in broken.output


def test_admin_tokens_name_their_holder_and_are_audited(hub: Hub) -> None:
    token = issue_api_token(engine=hub.engine, now=NOW, principal=ADMIN, holder="alice")
    credential = authenticate_credential(engine=hub.engine, token=token)
    assert (credential.principal, credential.actor) == ("admin", "admin:alice")
    plain = authenticate_credential(
        engine=hub.engine, token=issue_api_token(engine=hub.engine, now=NOW, principal=ADMIN)
    )
    assert plain.actor == "admin:admin"
    issued = audit.entries(hub.engine, subject_prefix="credential:")
    assert [(e.action, e.after["holder"]) for e in issued] == [
        ("credential.issue", "alice"),
        ("credential.issue", "admin"),
    ]
    assert audit.verify(hub.engine).ok
