"""The delivery record from real Postfix log lines (tests/unit/golden/postfix_log, taken
from the local stack) into PostgreSQL: attempts, links, sessions, failed logins; and
the reader's position, which makes every line count exactly once across restarts and
rotations."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy import text as sql
from sqlalchemy.exc import IntegrityError

from mailbasic import db
from mailbasic.delivery import postfix_log
from mailbasic.delivery.follow import LogFollower, Position
from mailbasic.delivery.reader import DeliveryLogReader
from mailbasic.delivery.record import DeliveryRecorder
from mailbasic.directory import directory_engine
from mailbasic.schema import (
    DeliveryAttempt,
    LogPosition,
    QueueLink,
    SmtpAuthAttempt,
    SmtpSession,
)

GOLDEN = Path(__file__).parents[1] / "unit" / "golden" / "postfix_log"


def golden(*names: str) -> str:
    return "".join((GOLDEN / f"{name}.log").read_text() for name in names)


@pytest.fixture
def log_settings(settings, tmp_path):
    return replace(settings, delivery_log_file=str(tmp_path / "postfix.log"),
                   delivery_log_batch_lines=7)


def drain(settings) -> DeliveryLogReader:
    """A fresh reader (as after a restart) that reads everything there is."""
    reader = DeliveryLogReader(settings)
    follower = LogFollower(Path(settings.delivery_log_file), reader.recorder.start())
    while reader.step(follower):
        pass
    follower.close()
    return reader


def rows(engine, model, *order):
    with db.transaction(engine) as session:
        return list(session.scalars(select(model).order_by(*order)))


def test_each_recipient_gets_the_remote_servers_own_reply(log_settings, engine):
    Path(log_settings.delivery_log_file).write_text(golden("remote_bounced"))
    drain(log_settings)
    attempts = {(row.queue_id, row.recipient): row for row in rows(
        engine, DeliveryAttempt, DeliveryAttempt.id)}
    ok = attempts[("CC91421604D", "ok2@remote.example")]
    assert (ok.status, ok.dsn, ok.relay) == ("sent", "2.0.0", "127.0.0.1[127.0.0.1]:35207")
    assert ok.reply == "250 2.0.0 Ok: queued as 4Xyz0004Q (id 42)"
    refused = attempts[("CC91421604D", "reject2@remote.example")]
    assert refused.status == "bounced" and refused.reply.startswith(
        "host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <reject2@remote.example>")
    links = rows(engine, QueueLink, QueueLink.id)
    assert [(link.queue_id, link.kind, link.caused_queue_id) for link in links] == [
        ("292B821604D", "non-delivery notification", "3900E216050"),
        ("CC91421604D", "non-delivery notification", "DCD2B216050")]
    # The bounce itself is followed to its delivery into Dovecot.
    assert attempts[("DCD2B216050", "alice@example.net")].status == "sent"


def test_a_force_expired_message_ends_with_expired_for_its_deferred_recipient(
        log_settings, engine):
    Path(log_settings.delivery_log_file).write_text(
        golden("remote_deferred_then_force_expired"))
    drain(log_settings)
    story = [(row.status, row.dsn) for row in rows(engine, DeliveryAttempt, DeliveryAttempt.id)
             if row.queue_id == "5BE4B21604A"]
    assert story == [("deferred", "4.7.1"), ("deferred", "4.7.1"), ("expired", "4.7.1")]


def test_sessions_with_failed_logins_and_their_end(log_settings, engine):
    Path(log_settings.delivery_log_file).write_text(golden("submission_auth_failed"))
    drain(log_settings)
    sessions = rows(engine, SmtpSession, SmtpSession.connected_at)
    first = sessions[0]
    assert (first.client_address, first.client_port, first.end) == (
        "127.0.0.1", 59204, "disconnect")
    assert first.tls == "TLSv1.3 TLS_AES_256_GCM_SHA384"
    assert first.commands == "ehlo=2 starttls=1 auth=0/3 quit=1 commands=4/7"
    failures = rows(engine, SmtpAuthAttempt, SmtpAuthAttempt.id)
    assert [(failure.mechanism, failure.username) for failure in failures][:3] == [
        ("PLAIN", "alice@example.net"), ("LOGIN", "alice@example.net"),
        ("LOGIN", "nosuchuser@example.net")]
    assert all(not failure.succeeded and failure.session_id for failure in failures)
    assert all(session.ended_at is not None for session in sessions)


def test_a_restart_every_few_lines_stores_each_line_exactly_once(log_settings, engine):
    """Seven lines a batch, a new reader (a restart) after every batch, over every golden
    file: the same rows as one reader reading it all."""
    text = golden(*sorted(path.stem for path in GOLDEN.glob("*.log")))
    log = Path(log_settings.delivery_log_file)
    lines = text.splitlines(keepends=True)
    for start in range(0, len(lines), 5):   # the writer appends as the reader reads
        with log.open("a") as stream:
            stream.writelines(lines[start:start + 5])
        reader = DeliveryLogReader(log_settings)
        follower = LogFollower(log, reader.recorder.start())
        reader.step(follower)   # one batch, then "crash"
        follower.close()
    drain(log_settings)
    restarted = _contents(engine)
    with db.transaction(engine) as session:
        assert session.scalars(select(LogPosition)).one().offset == log.stat().st_size
        session.execute(sql("TRUNCATE log_positions, delivery_attempts, queue_links, "
                             "smtp_sessions, smtp_auth_attempts"))
    drain(replace(log_settings, delivery_log_batch_lines=100_000))
    assert restarted == _contents(engine)
    assert len(restarted["attempts"]) > 20 and len(restarted["sessions"]) > 10


def test_rotation_while_running_loses_and_doubles_nothing(log_settings, engine):
    log = Path(log_settings.delivery_log_file)
    first, second = golden("remote_bounced"), golden("submission_sent_remote")
    log.write_text(first)
    reader = DeliveryLogReader(log_settings)
    follower = LogFollower(log, reader.recorder.start())
    reader.step(follower)
    log.rename(log.with_name(log.name + ".1"))     # logrotate's create
    log.write_text(second)
    while reader.step(follower):
        pass
    follower.close()
    expected = sum(1 for line in (first + second).splitlines()
                   if "status=" in line and " to=<" in line)
    assert len(_contents(engine)["attempts"]) == expected


def _contents(engine) -> dict[str, list[tuple]]:
    """Every stored row, without ids, sorted: what two readings must agree on."""
    queries = {
        "attempts": "SELECT queue_id, recipient, attempted_at, status, dsn, relay, reply"
                    " FROM delivery_attempts",
        "links": "SELECT queue_id, caused_queue_id, kind FROM queue_links",
        "sessions": "SELECT service, pid, connected_at, ended_at, client_port, tls, \"end\","
                    " commands, auth_user, refusals::text, queue_ids FROM smtp_sessions",
        "failures": "SELECT attempted_at, mechanism, username, reason"
                    " FROM smtp_auth_attempts"}
    with engine.connect() as connection:
        return {name: sorted((tuple(row) for row in connection.execute(sql(query))),
                             key=repr)
                for name, query in queries.items()}


def test_lines_the_database_would_refuse_do_not_stop_the_reader(log_settings, engine):
    good = ("Nov 30 05:57:28 mail postfix/smtp[21505]: CC91421604D: to=<ok@remote.example>, "
            "relay=mx[192.0.2.1]:25, delay=0.07, delays=0.03/0/0/0.04, dsn=2.0.0, "
            "status=sent (250 2.0.0 Ok)\n")
    odd = good.replace("status=sent", "status=teleported").replace("ok@", "odd@")
    nul = good.replace("ok@", "nul@").replace("250 2.0.0 Ok", "250 2.0.0 \x00Ok")
    log = Path(log_settings.delivery_log_file)
    log.write_text(odd + nul + good)
    drain(log_settings)
    assert [(row.recipient, row.reply) for row in rows(engine, DeliveryAttempt,
                                                       DeliveryAttempt.id)] == [
        ("nul@remote.example", "250 2.0.0 \ufffdOk"), ("ok@remote.example", "250 2.0.0 Ok")]
    with db.transaction(engine) as session:
        assert session.scalars(select(LogPosition)).one().offset == log.stat().st_size


def test_a_batch_and_its_position_commit_together_or_not_at_all(log_settings, engine):
    """The daemons' engine autocommits; the recorder's batch must not: when its position
    cannot be written, none of its rows stay (a retry would store them twice)."""


    events = [postfix_log.parse(line, year=2026) for line in golden("remote_bounced")
              .splitlines()]
    recorder = DeliveryRecorder(directory_engine(log_settings), "/var/log/postfix.log")
    recorder.start()
    with pytest.raises(IntegrityError):
        recorder.store(events, Position(inode=1, offset=-1, fingerprint=""))  # refused
    assert _contents(engine) == {"attempts": [], "links": [], "sessions": [],
                                 "failures": []}


def test_a_session_whose_end_was_never_logged_ends_when_stale(log_settings, engine):
    """Postfix killed mid-session: no disconnect line, and the pid never serves again.
    Once the log has moved on past any real session's length, it is ended as unknown."""
    lines = [
        "Nov 30 05:00:01 mail postfix/smtpd[31001]: connect from a.example[192.0.2.7]:40001\n",
        "Nov 30 05:30:00 mail postfix/smtpd[31002]: connect from b.example[192.0.2.8]:40002\n",
        "Nov 30 05:30:01 mail postfix/smtpd[31002]: disconnect from b.example[192.0.2.8]:40002"
        " ehlo=1 quit=1 commands=2\n"]
    path = Path(log_settings.delivery_log_file)
    path.write_text("".join(lines))
    drain(log_settings)
    [open_one] = [row for row in rows(engine, SmtpSession, SmtpSession.id) if row.pid == 31001]
    assert open_one.ended_at is None      # half an hour is a long session, not a lost one
    with path.open("a") as log:
        log.write("Nov 30 06:00:02 mail postfix/smtpd[31003]: connect from "
                  "c.example[192.0.2.9]:40003\n")
    drain(log_settings)
    [lost] = [row for row in rows(engine, SmtpSession, SmtpSession.id) if row.pid == 31001]
    assert lost.end == "unknown: no end logged" and lost.ended_at is not None
