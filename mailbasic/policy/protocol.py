"""Postfix's policy delegation protocol: name=value lines, a blank line ends a request;
the answer is one action=... line and a blank line. Values may contain '=' (split once).
Anything else is a ProtocolError: the server logs it and closes the connection."""

from __future__ import annotations

from io import BufferedIOBase

MAX_LINE = 2048        # Postfix's attributes are short; a longer line is not Postfix
MAX_ATTRIBUTES = 64


class ProtocolError(Exception):
    pass


def read_request(stream: BufferedIOBase) -> dict[str, str] | None:
    """The next request, or None when the client closed the connection between requests."""
    attributes: dict[str, str] = {}
    lines = 0
    while True:
        line = stream.readline(MAX_LINE + 1)
        if not line:
            if attributes:
                raise ProtocolError("connection closed in the middle of a request")
            return None
        if not line.endswith(b"\n"):
            raise ProtocolError("line too long or not terminated")
        line = line.rstrip(b"\r\n")
        if not line:
            if not attributes:
                raise ProtocolError("empty request")
            return _validated(attributes)
        lines += 1
        if lines > MAX_ATTRIBUTES:
            raise ProtocolError("too many attributes")
        name, equals, value = line.partition(b"=")
        if not equals or not name:
            raise ProtocolError(f"not a name=value line: {line[:60]!r}")
        try:
            attributes[name.decode("ascii")] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(f"undecodable bytes in {line[:60]!r}") from None


def _validated(attributes: dict[str, str]) -> dict[str, str]:
    if attributes.get("request") != "smtpd_access_policy":
        raise ProtocolError(f"not a policy request: request={attributes.get('request')!r}")
    return attributes


def answer(action: str) -> bytes:
    if "\n" in action or "\r" in action:
        raise ValueError("an action is one line")
    return f"action={action}\n\n".encode()
