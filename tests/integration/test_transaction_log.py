"""The milter's transaction log against the real PostgreSQL: records of messages that end
at once are committed together (group commit), every caller returns only once its own
record is committed, and a record the database refuses fails its own message only."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError

from mailbasic import smtplog
from mailbasic.directory import directory_engine
from mailbasic.milter.transactions import RecordNotWritten, TransactionLog, _Pending
from mailbasic.smtplog import TransactionRecord


def entry(queue_id: str, helo: str = "mx.remote.example") -> TransactionRecord:
    return TransactionRecord(queue_id=queue_id, client_address="192.0.2.1",
                             client_name="mx.remote.example", helo=helo, tls=None,
                             auth_user=None, sender="someone@remote.example", size=100,
                             reply="250 accepted",
                             recipients=[("a@example.net", "accepted"),
                                         ("b@example.net", "accepted")],
                             verdicts={"spam": {"verdict": "ham", "reason": "-"}})


def logged(settings) -> dict[str, int]:
    with directory_engine(settings).connect() as connection:
        return dict(connection.execute(text(
            "SELECT t.queue_id, count(r.id) FROM smtp_transactions t "
            "JOIN smtp_recipients r ON r.transaction_id = t.id GROUP BY t.queue_id")).all())


def test_concurrent_records_are_all_committed_when_record_returns(settings):
    log = TransactionLog(settings)
    returned: list[str] = []
    lock = threading.Lock()

    def one(number: int) -> None:
        log.record(entry(f"Q{number:04d}"))
        found = logged(settings)    # committed, as the 250 that follows claims
        with lock:
            returned.append(f"Q{number:04d}")
            assert found.get(f"Q{number:04d}") == 2

    threads = [threading.Thread(target=one, args=(number,)) for number in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(returned) == [f"Q{number:04d}" for number in range(40)]
    assert len(logged(settings)) == 40


def test_a_record_the_database_refuses_fails_only_its_own_message(settings):
    log = TransactionLog(settings)
    # A batch as the writer takes it: the middle record cannot be stored (PostgreSQL
    # text holds no NUL), the others must be committed all the same.
    batch = [_Pending(entry("GOOD1"), ()), _Pending(entry("BAD", helo="mx\x00evil"), ()),
             _Pending(entry("GOOD2"), ())]
    log._write(batch)
    assert [pending.done.is_set() for pending in batch] == [True, True, True]
    assert batch[0].error is None and batch[2].error is None
    assert batch[1].error is not None
    assert logged(settings) == {"GOOD1": 2, "GOOD2": 2}
    # And through the public call: the caller of the bad one gets the error.
    with pytest.raises(RecordNotWritten, match="cannot be converted to text") as raised:
        log.record(entry("BAD2", helo="mx\x00evil"))
    assert isinstance(raised.value.__cause__, DataError)


def test_a_batch_writes_each_record_as_one_record_alone_does(settings):
    engine = directory_engine(settings)
    alone = entry("ALONE")
    batch = [TransactionRecord(**{**vars(alone), "queue_id": f"MANY{number}",
                                  "sender": "Someone@Remote.Example", "tls": "TLSv1.3 X",
                                  "auth_user": None if number else "login@example.net",
                                  "size": None if number else 7,
                                  "recipients": [("C@Example.NET", "refused")] * number})
             for number in range(3)]
    with engine.begin() as connection:
        smtplog.record(connection, TransactionRecord(**{**vars(batch[0]),
                                                        "queue_id": "ALONE"}))
        smtplog.record_many(connection, batch)
    with engine.connect() as connection:
        rows = {row.queue_id: row for row in connection.execute(text(
            "SELECT queue_id, client_address, client_name, helo, tls, auth_user, sender,"
            " size, verdicts, reply FROM smtp_transactions"))}
        recipients = dict(connection.execute(text(
            "SELECT t.queue_id, array_agg(r.address || ' ' || r.outcome ORDER BY r.id) "
            "FROM smtp_transactions t JOIN smtp_recipients r ON r.transaction_id = t.id "
            "GROUP BY t.queue_id")).all())
    assert rows["MANY0"][1:] == rows["ALONE"][1:]
    assert rows["MANY0"].sender == "someone@remote.example"
    assert rows["MANY2"].size is None and rows["MANY2"].auth_user is None
    assert "MANY0" not in recipients and "ALONE" not in recipients
    assert recipients["MANY2"] == ["c@example.net refused"] * 2
