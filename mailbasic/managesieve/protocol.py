"""RFC 5804's wire format, and nothing else: commands in, responses out.

A command is an atom followed by strings and numbers: "quoted" strings (only \\ and \"
escaped), literals {N+} or {N} followed by CRLF and N octets (ManageSieve sends no
continuation for either), and numbers. parse_command works on a byte buffer and says
whether it holds a whole command, so the server reads exactly as much as it needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINE = 8192             # of a command outside its literals
MAX_LITERAL = 1024 * 1024   # well above any script mailbasic stores
MAX_ARGUMENTS = 8
_ATOM = re.compile(rb"[A-Za-z]+")
_LITERAL = re.compile(rb"\{(\d{1,9})(\+?)\}\r\n")
_NUMBER = re.compile(rb"\d{1,10}")
_QUOTED_LIMIT = 1024        # RFC 5804 4: longer strings go as literals


class ProtocolError(Exception):
    """A command that is not ManageSieve; answered NO, the connection goes on."""


@dataclass(frozen=True)
class Command:
    name: str                           # upper case
    arguments: tuple[str | int, ...]


def parse_command(buffer: bytes) -> tuple[Command, int] | None:
    """The first command in buffer and the bytes it took, or None when more must come.
    ProtocolError when no more bytes could make it a command."""
    match = _ATOM.match(buffer)
    if match is None:
        raise ProtocolError("a command starts with its name")
    position, segment = match.end(), 0   # segment: where the line after literals starts
    arguments: list[str | int] = []
    while True:
        if buffer.startswith(b"\r\n", position):
            return Command(match.group().decode().upper(), tuple(arguments)), position + 2
        if len(buffer) < position + 2:
            _unless_too_long(buffer, segment)
            return None
        if buffer[position:position + 1] != b" " or len(arguments) == MAX_ARGUMENTS:
            raise ProtocolError("arguments are separated by one space")
        argument = parse_argument(buffer, position + 1)
        if argument is None:
            _unless_too_long(buffer, segment)
            return None
        if buffer[position + 1:position + 2] == b"{":
            segment = argument[1]
        value, position = argument
        arguments.append(value)


def parse_argument(buffer: bytes, position: int) -> tuple[str | int, int] | None:
    """One string or number at position, and where it ends; None when more must come."""
    first = buffer[position:position + 1]
    if first == b"":
        return None
    if first == b'"':
        return _quoted(buffer, position + 1)
    if first == b"{":
        return _literal(buffer, position)
    number = _NUMBER.match(buffer, position)
    if number and number.end() < len(buffer):
        return int(number.group()), number.end()
    if number:
        return None
    raise ProtocolError("an argument is a \"string\", a {literal} or a number")


def _quoted(buffer: bytes, position: int) -> tuple[str, int] | None:
    value = bytearray()
    while position < len(buffer):
        octet = buffer[position]
        if octet == ord('"'):
            return _text(bytes(value)), position + 1
        if octet in b"\r\n" or len(value) >= _QUOTED_LIMIT:
            raise ProtocolError("a quoted string holds one line of at most 1024 octets")
        if octet == ord("\\"):
            position += 1
            if position == len(buffer):
                return None
            if buffer[position] not in b'"\\':
                raise ProtocolError("only \\\" and \\\\ are escaped in a quoted string")
            octet = buffer[position]
        value.append(octet)
        position += 1
    return None


def _literal(buffer: bytes, position: int) -> tuple[str, int] | None:
    header = _LITERAL.match(buffer, position)
    if header is None:
        if b"\n" in buffer[position:position + 16] or len(buffer) - position >= 16:
            raise ProtocolError("a literal is {N+} or {N} and a line break")
        return None
    size = int(header.group(1))
    if size > MAX_LITERAL:
        raise ProtocolError(f"a literal of at most {MAX_LITERAL} octets")
    end = header.end() + size
    if len(buffer) < end:
        return None
    return _text(buffer[header.end():end]), end


def _text(octets: bytes) -> str:
    try:
        return octets.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("strings are UTF-8") from None


def _unless_too_long(buffer: bytes, segment: int) -> None:
    """More may come (None), unless the line outside literals is already too long."""
    if len(buffer) - segment > MAX_LINE:
        raise ProtocolError(f"a command line of at most {MAX_LINE} octets")


def next_command(buffer: bytes) -> tuple[Command | ProtocolError, int] | None:
    """The first command in buffer, or the error of its line, and the bytes it took;
    None when more must come."""
    try:
        return parse_command(buffer)
    except ProtocolError as error:
        # Refused once its line is complete: its rest must not be read as a command.
        line_end = buffer.find(b"\r\n")
        if line_end >= 0:
            return error, line_end + 2
        return (error, len(buffer)) if len(buffer) > MAX_LINE else None


# -- responses --------------------------------------------------------------------------

def string(text: str) -> bytes:
    """A string as the server sends it: quoted when it can be, otherwise a literal."""
    octets = text.encode("utf-8")
    if len(octets) < _QUOTED_LIMIT and not any(octet in octets for octet in b"\r\n\0"):
        return b'"' + octets.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(octets) + octets


def response(kind: str, text: str = "", code: str = "") -> bytes:
    """OK, NO or BYE with an optional response code (RFC 5804 1.3) and text."""
    words = [kind.encode()]
    if code:
        words.append(b"(" + code.encode() + b")")
    if text:
        words.append(string(text))
    return b" ".join(words) + b"\r\n"


def line(*strings: str, atom: str = "") -> bytes:
    """A data line: strings, and an atom after them (LISTSCRIPTS' ACTIVE)."""
    words = [string(text) for text in strings] + ([atom.encode()] if atom else [])
    return b" ".join(words) + b"\r\n"
