"""Sending incidents on a real PostgreSQL, written with the daemons' own database role:
the threshold within the window, the automatic stop of submission with its SMS, the count
after a resume, concurrent reports, and the admin's `abuse list | resume`."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from dataclasses import replace

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from mailbasic.abuse import incidents
from mailbasic.abuse.incidents import Incident, Threshold
from mailbasic.abuse.reporter import SendingAbuse
from mailbasic.devstack.process import free_port
from mailbasic.policy.server import make_server
from mailbasic.schema.privileges import ComponentRole
from tests.integration.test_policy_daemon import exchange

PASSWORD = "a long secret\n"
RITA, RITA_HOME, SOLO = "rita.rate@example.net", "rita.home@example.net", "solo.user@example.net"
THRESHOLD = Threshold(incidents=3, window_minutes=60)


@pytest.fixture
def customers(cli):
    """rita.rate with a second mailbox and SMS on; solo.user with one mailbox, no SMS."""
    cli.ok("domain", "add", "example.net")
    for name in ("rita.rate", "solo.user"):
        cli.ok("customer", "add", name, "--domain", "example.net", "--password-stdin",
               input=PASSWORD)
    cli.ok("mailbox", "add", "rita.rate", RITA_HOME, "--password-stdin", input=PASSWORD)
    cli.ok("sms", "set", RITA, "--phone", "+49 170 1234567")
    return cli


@pytest.fixture
def daemon_url(postgres, settings):
    """This test's database, as the milter and the policy daemon log in to it."""
    database = make_url(settings.database_url).database
    return postgres.postgres.url(database=database, role=ComponentRole.DAEMON.value)


@pytest.fixture
def daemon_engine(daemon_url):
    engine = create_engine(daemon_url, isolation_level="READ COMMITTED")
    yield engine
    engine.dispose()


def incident(login: str = RITA, kind="rate_limit", detail="41 recipients this hour > 40"):
    return Incident(login, kind, detail, "Q1", "192.0.2.7", "client.example")


def record(engine, found: Incident = None, threshold: Threshold = THRESHOLD):
    with engine.begin() as connection:
        return incidents.record(connection, found or incident(), threshold)


def scalar(engine, statement: str):
    with engine.connect() as connection:
        return connection.execute(text(statement)).scalar()


def test_the_third_incident_stops_submission_and_queues_the_sms(customers, daemon_engine,
                                                                engine):
    first, second = record(daemon_engine), record(daemon_engine)
    assert (first.verdict, first.counted, second.verdict, second.counted) == (
        "recorded", 1, "recorded", 2)
    third = record(daemon_engine, incident(kind="spam", detail="outgoing mail scored "
                                                                "1000.0/5.0 (GTUBE)"))
    assert (third.verdict, third.counted, third.other_mailbox, third.sms_queued) == (
        "suspended", 3, RITA_HOME, True)
    assert third.reason == ("3 sending incidents within 60 minutes, the last: spam "
                            "(outgoing mail scored 1000.0/5.0 (GTUBE))")
    with engine.connect() as connection:
        assert connection.execute(text(
            "SELECT submission_suspended_reason FROM mailboxes m JOIN addresses a"
            " ON a.mailbox_id = m.id WHERE a.local_part = 'rita.rate'")).scalar() == third.reason
        assert connection.execute(text(
            "SELECT phone, reason, text FROM sms_outbox")).one() == (
            "+491701234567", "sending suspended", f"Sending from {RITA} was stopped: likely "
            "a stolen password sending spam. Change the password, then ask support to "
            "resume.")
    assert scalar(engine, "SELECT array_agg(suspended_submission ORDER BY id)"
                          " FROM sending_incidents") == [False, False, True]


def test_an_incident_while_stopped_is_not_counted_and_a_resume_starts_afresh(
        customers, daemon_engine, engine):
    for _ in range(3):
        record(daemon_engine)
    assert record(daemon_engine).verdict == "already-suspended"
    assert scalar(engine, "SELECT count(*) FROM sending_incidents") == 3
    customers.ok("abuse", "resume", RITA)
    again = record(daemon_engine)
    assert (again.verdict, again.counted) == ("recorded", 1)


def test_incidents_older_than_the_window_do_not_count(customers, daemon_engine, engine):
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO sending_incidents (mailbox_id, kind, occurred_at, detail)"
            " SELECT mailbox_id, 'spam', now() - interval '61 minutes', 'old'"
            " FROM addresses, generate_series(1, 5) WHERE local_part = 'rita.rate'"))
    assert record(daemon_engine).counted == 1


def test_concurrent_reports_stop_submission_once(customers, daemon_engine, engine):
    barrier, verdicts = threading.Barrier(4), []

    def report() -> None:
        barrier.wait()
        verdicts.append(record(daemon_engine, threshold=Threshold(2, 60)).verdict)
    threads = [threading.Thread(target=report) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(verdicts) == {"recorded": 1, "suspended": 1, "already-suspended": 2}
    assert scalar(engine, "SELECT count(*) FROM sms_outbox") == 1


def test_a_login_that_is_no_mailbox_is_not_recorded(customers, daemon_engine, engine):
    assert record(daemon_engine, incident("rita.home@example.org")).verdict == "unknown-login"
    assert scalar(engine, "SELECT count(*) FROM sending_incidents") == 0


def test_a_customer_without_another_mailbox_is_told_so_in_the_log(
        customers, dovecot, settings, daemon_url, caplog):
    abuse = SendingAbuse(replace(settings, database_url=daemon_url, abuse_incidents=1,
                                 service_domain="example.net"))
    with caplog.at_level(logging.INFO, logger="mailbasic.abuse"):
        # The bare login (Dovecot's default realm) is the service domain's.
        recorded = abuse.report(incident("solo.user", "spam", "outgoing mail scored 7.1/5.0"))
    assert (recorded.verdict, recorded.other_mailbox, recorded.sms_queued) == (
        "suspended", None, False)
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == ("Q1: stage=abuse verdict=incident reason=spam: outgoing mail "
                        "scored 7.1/5.0 client=client.example[192.0.2.7] "
                        f"login={SOLO} incidents=1/1")
    assert lines[1].startswith("Q1: stage=abuse verdict=submission-suspended reason=1 "
                               "sending incidents within 60 minutes")
    assert lines[1].endswith(f"login={SOLO} sms=not set up notice=none")
    assert lines[2] == ("Q1: stage=abuse verdict=no-notice reason=the customer has no "
                        "other mailbox to tell client=client.example[192.0.2.7] "
                        f"login={SOLO}")


def test_the_admin_lists_incidents_newest_first_and_resumes_audited(customers,
                                                                    daemon_engine, dovecot):
    record(daemon_engine, incident(SOLO))
    for kind in ("rate_limit", "rate_limit", "spam"):
        record(daemon_engine, incident(kind=kind))
    listed = json.loads(customers.ok("abuse", "list", "--json").stdout)
    assert [(row["mailbox"], row["kind"], row["suspended_submission"]) for row in listed] == [
        (RITA, "spam", True), (RITA, "rate_limit", False), (RITA, "rate_limit", False),
        (SOLO, "rate_limit", False)]
    assert listed[0]["client_address"] == "192.0.2.7" and listed[0]["queue_id"] == "Q1"
    assert listed[0]["submission_suspended_now"] and not listed[3]["submission_suspended_now"]
    text_lines = customers.ok("abuse", "list", "--mailbox", SOLO).stdout.splitlines()
    assert len(text_lines) == 1 and "rate_limit  client [192.0.2.7]  Q1  41 recipients" in \
        text_lines[0] and "SENDING STOPPED" not in text_lines[0]
    assert customers.ok("abuse", "resume", SOLO).stdout == (
        f"{SOLO}: sending was not suspended, nothing to do\n")
    assert customers.ok("abuse", "resume", RITA).stdout == f"{RITA}: sending resumed\n"
    listed = json.loads(customers.ok("abuse", "list", "--json").stdout)
    assert not listed[0]["submission_suspended_now"] and listed[0]["suspended_submission"]
    audit = json.loads(customers.ok("audit", "search", "--customer", "rita.rate",
                                    "--json").stdout)
    assert audit[0]["action"] == "abuse resume" and audit[0]["detail"]["mailbox"] == RITA
    assert audit[0]["detail"]["reason"].startswith("3 sending incidents")


def rcpt_request(instance: str) -> bytes:
    return ("request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
            f"instance={instance}\nclient_address=192.0.2.9\nclient_name=bot.example\n"
            f"sender={RITA}\nrecipient={RITA_HOME}\nsasl_username={RITA}\n\n").encode()


def test_a_transaction_is_one_incident_however_many_recipients_it_is_refused(
        customers, settings, engine):
    server = make_server(replace(settings, rate_recipients_per_hour=1,
                                 policy_socket=f"inet:{free_port()}@127.0.0.1"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        answers = exchange(server.server_address, rcpt_request("1a.2b.1") * 4
                           + rcpt_request("1a.2b.2") * 2, 4096, 6)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert answers == ["DUNNO"] + ["450 4.7.1 Sending rate limit reached, please try again "
                                   "later"] * 5
    assert scalar(engine, "SELECT array_agg(detail ORDER BY id) FROM sending_incidents") == [
        "2 recipients this hour > 1", "5 recipients this hour > 1"]
