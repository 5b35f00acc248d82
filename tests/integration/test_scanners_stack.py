"""The stack's spamd and clamd are real and loaded: GTUBE is spam, EICAR is a virus."""

import socket
import struct

from mailbasic.devstack.clamd import EICAR, EICAR_SIGNATURE_NAME

# SpamAssassin's Generic Test for Unsolicited Bulk Email.
GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def exchange(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(payload)
        connection.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_spamd_scores_gtube_as_spam(spamd):
    body = b"Subject: test\r\nFrom: a@example.org\r\n\r\n" + GTUBE + b"\r\n"
    request = (b"CHECK SPAMC/1.5\r\nContent-length: %d\r\nUser: tester\r\n\r\n" % len(body)
               + body)
    answer = exchange(spamd.ports.spamd, request)
    assert answer.startswith(b"SPAMD/1.") and b" 0 EX_OK" in answer
    assert b"Spam: True" in answer


def test_clamd_finds_the_test_signature_in_a_stream(clamd):
    request = (b"zINSTREAM\0" + struct.pack(">I", len(EICAR)) + EICAR
               + struct.pack(">I", 0))
    answer = exchange(clamd.ports.clamd, request)
    assert answer == f"stream: {EICAR_SIGNATURE_NAME}.UNOFFICIAL FOUND\0".encode()


def test_clamd_passes_clean_data(clamd):
    clean = b"just some harmless text"
    request = b"zINSTREAM\0" + struct.pack(">I", len(clean)) + clean + struct.pack(">I", 0)
    assert exchange(clamd.ports.clamd, request) == b"stream: OK\0"
