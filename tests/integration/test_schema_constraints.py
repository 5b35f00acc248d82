"""The account rules hold in the database itself, whatever client writes to it."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

PASSWORD_HASH = "{BLF-CRYPT}$2b$04$abcdefghijklmnopqrstuu0123456789012345678901234567890"


@pytest.fixture
def connection(engine):
    with engine.connect() as connection:
        connection.execute(text("INSERT INTO domains (id, name) VALUES (1, 'example.net')"))
        connection.execute(text("INSERT INTO customers (id, name) VALUES (1, 'alice')"))
        connection.commit()
        yield connection


def insert_mailbox(connection, mailbox_id, slot, primary_local_part):
    connection.execute(text(
        "INSERT INTO mailboxes (id, customer_id, slot, password_hash, quota_bytes)"
        " VALUES (:id, 1, :slot, :hash, 1073741824)"),
        {"id": mailbox_id, "slot": slot, "hash": PASSWORD_HASH})
    insert_address(connection, primary_local_part, mailbox_id, 1)


def insert_address(connection, local_part, mailbox_id, slot):
    connection.execute(text(
        "INSERT INTO addresses (local_part, domain_id, mailbox_id, slot, is_primary)"
        " VALUES (:local, 1, :mailbox, :slot, :slot = 1)"),
        {"local": local_part, "mailbox": mailbox_id, "slot": slot})


def refused(connection, statement, **parameters):
    with pytest.raises((IntegrityError, DBAPIError)) as raised:
        connection.execute(text(statement), parameters)
        connection.commit()
    connection.rollback()
    return str(raised.value.orig)


def test_a_third_mailbox_is_refused(connection):
    insert_mailbox(connection, 1, 1, "alice")
    insert_mailbox(connection, 2, 2, "alice.two")
    connection.commit()
    message = refused(connection, "INSERT INTO mailboxes (customer_id, slot, password_hash,"
                      " quota_bytes) VALUES (1, 3, :hash, 1)", hash=PASSWORD_HASH)
    assert "ck_mailboxes_slot_range" in message


def test_a_seventh_address_is_refused(connection):
    insert_mailbox(connection, 1, 1, "alice")
    for slot in range(2, 7):
        insert_address(connection, f"alias{slot}", 1, slot)
    connection.commit()
    message = refused(connection, "INSERT INTO addresses (local_part, domain_id, mailbox_id,"
                      " slot, is_primary) VALUES ('alias7', 1, 1, 7, false)")
    assert "ck_addresses_slot_range" in message


def test_addresses_are_unique_per_domain_ignoring_case(connection):
    insert_mailbox(connection, 1, 1, "alice")
    connection.commit()
    message = refused(connection, "INSERT INTO addresses (local_part, domain_id, mailbox_id,"
                      " slot, is_primary) VALUES ('ALICE', 1, 1, 2, false)")
    assert "uq_addresses_domain_id_local_part" in message


@pytest.mark.parametrize("local_part", ["abcd", "a" * 31, "1alice", "al_ice", "alïce",
                                        ".alice", "-alice"])
def test_local_part_syntax_is_a_constraint(connection, local_part):
    insert_mailbox(connection, 1, 1, "alice")
    connection.commit()
    message = refused(connection, "INSERT INTO addresses (local_part, domain_id, mailbox_id,"
                      " slot, is_primary) VALUES (:local, 1, 1, 2, false)", local=local_part)
    assert "ck_addresses_local_part_syntax" in message


def test_a_mailbox_without_primary_address_cannot_commit(connection):
    message = refused(connection, "INSERT INTO mailboxes (customer_id, slot, password_hash,"
                      " quota_bytes) VALUES (1, 1, :hash, 1)", hash=PASSWORD_HASH)
    assert "has no primary address" in message


def test_the_primary_address_cannot_be_deleted(connection):
    insert_mailbox(connection, 1, 1, "alice")
    connection.commit()
    message = refused(connection, "DELETE FROM addresses WHERE local_part = 'alice'")
    assert "has no primary address" in message


def test_deleting_a_customer_removes_its_mailboxes_and_addresses(connection):
    insert_mailbox(connection, 1, 1, "alice")
    connection.commit()
    connection.execute(text("DELETE FROM customers WHERE id = 1"))
    connection.commit()
    assert connection.scalar(text("SELECT count(*) FROM addresses")) == 0


def test_deactivation_must_record_when(connection):
    insert_mailbox(connection, 1, 1, "alice")
    connection.commit()
    message = refused(connection, "UPDATE mailboxes SET receiving_state = 'deactivated'")
    assert "ck_mailboxes_deactivation_recorded" in message
