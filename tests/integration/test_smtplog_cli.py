"""`mailbasic log search | purge` over a real PostgreSQL."""

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from mailbasic import smtplog
from mailbasic.schema import SmtpTransaction
from mailbasic.smtplog import TransactionRecord


def add(engine, queue_id, sender, recipients, days_ago=0):
    with engine.begin() as connection:
        smtplog.record(connection, TransactionRecord(
            queue_id=queue_id, client_address="192.0.2.7", client_name="mx.remote.example",
            helo="mx.remote.example", tls="TLSv1.3 TLS_AES_256_GCM_SHA384", auth_user=None,
            sender=sender, size=1234, reply="250 accepted",
            recipients=[(address, "accepted") for address in recipients],
            verdicts={"spam": {"verdict": "ham", "reason": "score 0.1/5.0"}}))
        connection.execute(
            update(SmtpTransaction).where(SmtpTransaction.queue_id == queue_id).values(
                logged_at=datetime.now(UTC) - timedelta(days=days_ago)))


def queue_ids(result):
    return [entry["queue_id"] for entry in json.loads(result.stdout)]


def test_search_by_address_queue_id_and_time(cli, engine):
    add(engine, "AAA111", "Someone@Remote.example", ["alice@example.net"], days_ago=10)
    add(engine, "BBB222", "alice@example.net", ["bob@elsewhere.example"], days_ago=1)
    add(engine, "CCC333", "other@remote.example", ["carol@example.net"])
    assert queue_ids(cli.ok("log", "search", "--address", "ALICE@example.net", "--json")) == \
        ["BBB222", "AAA111"]
    assert queue_ids(cli.ok("log", "search", "--address", "someone@remote.example",
                            "--json")) == ["AAA111"]
    assert queue_ids(cli.ok("log", "search", "--queue-id", "CCC333", "--json")) == ["CCC333"]
    since = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    assert queue_ids(cli.ok("log", "search", "--since", since, "--json")) == \
        ["CCC333", "BBB222"]
    text = cli.ok("log", "search", "--queue-id", "AAA111").stdout
    # The story's first line is the arrival, then one line per recipient's outcome.
    assert ("AAA111: from <someone@remote.example> client=mx.remote.example[192.0.2.7] "
            'size=1234 reply="250 accepted"') in text
    assert "\n  to <alice@example.net>: accepted" in text


def test_bad_time_is_refused(cli):
    result = cli("log", "search", "--since", "yesterday")
    assert result.exit_code == 7 and "not a time" in result.stderr


def test_purge_applies_the_retention_period(cli, engine):
    add(engine, "OLD1", "a@remote.example", ["alice@example.net"], days_ago=200)
    add(engine, "NEW1", "a@remote.example", ["alice@example.net"], days_ago=100)
    assert "removed 1 transactions" in cli.ok("log", "purge").stdout  # default: 180 days
    assert queue_ids(cli.ok("log", "search", "--json")) == ["NEW1"]
    assert "removed 1 transactions" in cli.ok("log", "purge", "--older-than", "30").stdout
    assert queue_ids(cli.ok("log", "search", "--json")) == []
