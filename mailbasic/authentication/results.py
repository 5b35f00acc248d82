"""The Authentication-Results header (RFC 8601): written by us, and recognised when an
incoming one claims our authserv-id (own_headers removes those)."""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADER = "Authentication-Results"
_COMMENT = re.compile(r"\((?:[^()\\]|\\.)*\)")
_PLAIN_VALUE = re.compile(r"^(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@)?[A-Za-z0-9._-]+$")
_UNSAFE_COMMENT = re.compile(r"[()\\\r\n]+")


@dataclass(frozen=True)
class Result:
    """One resinfo: `dkim=pass (comment) header.d=example.com header.s=sel`."""

    method: str
    result: str
    properties: tuple[tuple[str, str], ...] = ()
    comment: str = ""

    def text(self) -> str:
        parts = [f"{self.method}={self.result}"]
        if self.comment:
            parts.append(f"({' '.join(_UNSAFE_COMMENT.sub(' ', self.comment).split())})")
        parts += [f"{name}={_value(value)}" for name, value in self.properties]
        return " ".join(parts)


def header_value(authserv_id: str, results: list[Result]) -> str:
    """The header's value, one result a line (folded with "\\n\\t", as libmilter takes it)."""
    if not results:
        return f"{authserv_id}; none"
    return authserv_id + "".join(";\n\t" + result.text() for result in results)


def authserv_id_of(value: str) -> str:
    """The authserv-id an Authentication-Results value names (lower case, comments and an
    optional version left out)."""
    head = value.split(";", 1)[0]
    while True:  # comments nest: remove the innermost until none is left
        stripped = _COMMENT.sub(" ", head)
        if stripped == head:
            break
        head = stripped
    words = head.split()
    return words[0].strip('"').lower().rstrip(".") if words else ""


def _value(value: str) -> str:
    """A pvalue: a plain token or local-part@domain as it is, anything else quoted."""
    if _PLAIN_VALUE.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
