"""RFC 5804's strings, literals and numbers as mailbasic's ManageSieve server reads them,
also fed in chops of 1, 16 and 4096 bytes (a client's writes arrive in any pieces)."""

import pytest

from mailbasic.managesieve.auth import AuthUnavailable, Client, auth_request, parse_answer
from mailbasic.managesieve.protocol import (
    MAX_LINE,
    Command,
    ProtocolError,
    line,
    next_command,
    parse_command,
    response,
    string,
)
from mailbasic.managesieve.server import _response_line, capabilities, check_arguments

SCRIPT = 'require ["fileinto"];\r\nif header :contains "subject" "x" { fileinto "A"; }\r\n'
LITERAL = SCRIPT.encode()


@pytest.mark.parametrize("wire, expected", [
    (b"CAPABILITY\r\n", Command("CAPABILITY", ())),
    (b"logout\r\n", Command("LOGOUT", ())),
    (b'GETSCRIPT "my script"\r\n', Command("GETSCRIPT", ("my script",))),
    (b'PUTSCRIPT "a" {%d+}\r\n' % len(LITERAL) + LITERAL + b"\r\n",
     Command("PUTSCRIPT", ("a", SCRIPT))),
    (b'PUTSCRIPT "a" {%d}\r\n' % len(LITERAL) + LITERAL + b"\r\n",
     Command("PUTSCRIPT", ("a", SCRIPT))),
    (b'HAVESPACE "a" 12345\r\n', Command("HAVESPACE", ("a", 12345))),
    (b'RENAMESCRIPT "say \\"hi\\"" "back\\\\slash"\r\n',
     Command("RENAMESCRIPT", ('say "hi"', "back\\slash"))),
    ('SETACTIVE "Büro"\r\n'.encode(), Command("SETACTIVE", ("Büro",))),
    (b'SETACTIVE ""\r\n', Command("SETACTIVE", ("",))),
    (b'AUTHENTICATE "PLAIN" {8+}\r\nAGEAc2Vj\r\n', Command("AUTHENTICATE", ("PLAIN", "AGEAc2Vj"))),
])
def test_commands_are_read_whole(wire, expected):
    assert parse_command(wire) == (expected, len(wire))


@pytest.mark.parametrize("chop", [1, 16, 4096])
def test_a_stream_in_any_pieces_gives_the_same_commands(chop):
    wire = (b'PUTSCRIPT "a" {%d+}\r\n' % len(LITERAL) + LITERAL + b"\r\n"
            + b'HAVESPACE "a" 7\r\nLOGOUT\r\n')
    buffer, found = b"", []
    for start in range(0, len(wire), chop):
        buffer += wire[start:start + chop]
        while (result := next_command(buffer)) is not None:
            command, used = result
            found.append(command)
            buffer = buffer[used:]
    assert found == [Command("PUTSCRIPT", ("a", SCRIPT)), Command("HAVESPACE", ("a", 7)),
                     Command("LOGOUT", ())]
    assert buffer == b""


@pytest.mark.parametrize("partial", [b"", b"PUTSC", b'PUTSCRIPT "a', b'PUTSCRIPT "a" {12',
                                     b'PUTSCRIPT "a" {5+}\r\nabc', b'HAVESPACE "a" 12',
                                     b'GETSCRIPT "a"\r', b'GETSCRIPT "a\\'])
def test_an_unfinished_command_waits_for_more(partial):
    assert next_command(partial) is None


@pytest.mark.parametrize("wire, reason", [
    (b'"quoted" first\r\n', "starts with its name"),
    (b'GETSCRIPT  "two spaces"\r\n', "argument"),
    (b"GETSCRIPT atom\r\n", "argument"),
    (b'GETSCRIPT "bad \\n escape"\r\n', "escaped"),
    (b'GETSCRIPT "\xff"\r\n', "UTF-8"),
    (b"PUTSCRIPT \"a\" {99999999+}\r\n", "at most"),
    (b"PUTSCRIPT \"a\" {x}\r\n", "literal"),
])
def test_what_is_not_manageSieve_is_refused_once_its_line_is_complete(wire, reason):
    error, used = next_command(wire + b"NOOP\r\n")
    assert isinstance(error, ProtocolError) and reason in str(error)
    assert next_command((wire + b"NOOP\r\n")[used:]) == (Command("NOOP", ()), 6)


def test_a_broken_line_is_refused_only_when_complete_or_too_long():
    assert next_command(b'"quoted" and no end') is None
    error, used = next_command(b"x" * (MAX_LINE + 1))
    assert isinstance(error, ProtocolError) and used == MAX_LINE + 1


def test_a_quoted_string_holds_no_line_break():
    error, _ = next_command(b'GETSCRIPT "a\r\nb"\r\n')
    assert isinstance(error, ProtocolError)


def test_strings_are_quoted_when_they_can_be_and_literals_otherwise():
    assert string('say "hi" \\') == b'"say \\"hi\\" \\\\"'
    assert string("a\r\nb") == b"{4}\r\na\r\nb"
    assert string("x" * 2000).startswith(b"{2000}\r\n")
    assert string("Büro") == '"Büro"'.encode()


def test_responses_carry_a_code_and_a_quoted_text():
    assert response("OK") == b"OK\r\n"
    assert response("NO", 'line 2: "x" unknown', "NONEXISTENT") == \
        b'NO (NONEXISTENT) "line 2: \\"x\\" unknown"\r\n'
    assert line("mine", atom="ACTIVE") == b'"mine" ACTIVE\r\n'


def test_capabilities_offer_plain_only_over_tls_and_starttls_only_before():
    plain = capabilities(tls_active=False, logged_in=False)
    assert b'"SASL" ""\r\n' in plain and b'"STARTTLS"\r\n' in plain
    secured = capabilities(tls_active=True, logged_in=False)
    assert b'"SASL" "PLAIN"\r\n' in secured and b"STARTTLS" not in secured
    # date and relational: for the vacation's days (SOGo writes them only when offered).
    assert (b'"SIEVE" "body copy date enotify envelope fileinto mailbox regex relational '
            b'vacation"') in secured


@pytest.mark.parametrize("command", [Command("PUTSCRIPT", ("a",)),
                                     Command("HAVESPACE", ("a", "12")),
                                     Command("GETSCRIPT", (3,)),
                                     Command("LOGOUT", ("x",))])
def test_arguments_of_the_wrong_number_or_kind_are_refused(command):
    with pytest.raises(ProtocolError):
        check_arguments(command)


def test_optional_arguments_are_accepted():
    check_arguments(Command("NOOP", ()))
    check_arguments(Command("NOOP", ("tag",)))
    check_arguments(Command("AUTHENTICATE", ("PLAIN",)))
    check_arguments(Command("AUTHENTICATE", ("PLAIN", "AGEAYg==")))


@pytest.mark.parametrize("wire, expected", [
    (b'"AGEAYg=="\r\n', ("AGEAYg==", 12)),
    (b"{8+}\r\nAGEAYg==\r\n", ("AGEAYg==", 16)),
    (b'"*"\r\n', ("*", 5)),
    (b"*\r\n", ("", 3)),
    (b'"AGEA', None),
])
def test_a_sasl_answer_is_one_string_on_its_line(wire, expected):
    assert _response_line(wire) == expected


def test_dovecot_is_asked_for_service_sieve_with_the_client_address():
    request = auth_request(Client("192.0.2.7", "127.0.0.1"), b"\0dora@example.net\0secret")
    assert request == (b"AUTH\t1\tPLAIN\tservice=sieve\tsecured\tlip=127.0.0.1\t"
                       b"rip=192.0.2.7\tresp=AGRvcmFAZXhhbXBsZS5uZXQAc2VjcmV0\n")


def test_dovecots_answers_give_the_user_or_none():
    assert parse_answer(b"OK\t1\tuser=dora@example.net\n") == "dora@example.net"
    assert parse_answer(b"FAIL\t1\tuser=dora@example.net\treason=x\n") is None
    with pytest.raises(AuthUnavailable):
        parse_answer(b"CONT\t1\t\n")
