"""Undo transfer encodings the way the most lenient common mail client does, so that no
content a client would show or save reaches a recipient unscanned.

- The Content-Transfer-Encoding is its first token, in any case: clients decode
  "BASE64", "base64 (x)" and "base64; foo" as base64.
- base64 ignores characters outside its alphabet and decodes padded segments one after
  another (coreutils' `base64 -d` does; Python's decoder stops at the first padding),
  so "padded every few bytes" hides nothing.
- uuencode and yEnc blocks inside a text part are decoded as the attachments clients
  make of them.

Each decoder notes whether its input was irregular (garbage, padding in the middle, an
unknown encoding): the virus stage then also scans the raw bytes, since another decoder
may read them differently.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pybase64

_BASE64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_WHITESPACE = frozenset(b" \t\r\n")
_WHITESPACE_BYTES = b" \t\r\n"
_BASE64_BYTES = bytes(sorted(_BASE64_ALPHABET))
_BASE64_OR_WHITESPACE = _BASE64_BYTES + _WHITESPACE_BYTES
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
PLAIN_ENCODINGS = ("7bit", "8bit", "binary")
UUENCODE_NAMES = ("x-uuencode", "uuencode", "x-uue", "uue")
_CTE_TOKEN = re.compile(r"[A-Za-z0-9_.-]+")
_UU_BEGIN = re.compile(rb"^begin(?:-base64)? +[0-7]{1,4} +\S")
_YENC_BEGIN = re.compile(rb"^=ybegin .*\bname=")


def transfer_encoding(header_value: str | None) -> tuple[str, bool]:
    """(the encoding a client uses, whether the header was exactly that token)."""
    text = (header_value or "7bit").strip()
    match = _CTE_TOKEN.match(text)
    token = match.group(0).lower() if match else "7bit"
    return token, text.lower() == token


@dataclass
class Base64Decoder:
    """Streaming, lenient base64: a padding character ends the current group, whatever
    follows starts a new one."""

    irregular: bool = False
    _group: bytearray = field(default_factory=bytearray)
    _padded: bool = False    # padding seen since the last group ended

    def decode(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            decoded = self._feed(chunk)
            if decoded:
                yield decoded
        tail = self._flush()
        if tail:
            yield tail

    def _feed(self, chunk: bytes) -> bytes:
        """Whole lines of nothing but alphabet and line breaks, the bulk of a regular
        body, in one call of pybase64; the rest (a line cut by the chunk, a group left
        open by a line, padding, stray bytes) as _feed_lines decodes it."""
        # Deleting everything a regular chunk may hold leaves nothing: 2.5 times faster
        # than deleting the whitespace alone (which copies the rest), and pybase64 skips
        # the whitespace itself.
        if self._padded or chunk.translate(None, _BASE64_OR_WHITESPACE):
            return self._feed_lines(chunk)      # padding or a stray byte somewhere
        start = chunk.find(b"\n") + 1 if self._group else 0
        end = chunk.rfind(b"\n") + 1
        head = self._feed_lines(chunk[:start]) if start else b""
        if end <= start or self._group:   # no whole line, or lines not of whole groups
            return head + self._feed_lines(chunk[start:])
        try:
            body = pybase64.b64decode(memoryview(chunk)[start:end], validate=False)
        except binascii.Error:   # the lines do not make whole groups
            return head + self._feed_lines(chunk[start:])
        return head + body + self._feed_lines(chunk[end:])

    def _feed_lines(self, chunk: bytes) -> bytes:
        """Regular base64 (alphabet and line breaks) in C, in one call; from the first
        padding or stray character on, byte by byte (a message's last line, or an
        irregular one)."""
        compact = chunk.translate(None, _WHITESPACE_BYTES)
        # Deleting the alphabet leaves nothing in a regular chunk: ten times faster than
        # the search, which is left for the chunk that holds the padding or a stray byte.
        stray = _NOT_BASE64.search(compact) if compact.translate(None, _BASE64_BYTES) else None
        regular = compact[:stray.start()] if stray else compact
        out = b""
        if regular and not self._padded:
            data = bytes(self._group) + regular
            whole = len(data) - len(data) % 4
            self._group[:] = data[whole:]
            # Only alphabet, whole groups, no padding: strict decoding reads it exactly as
            # the lenient one would, and pybase64's SIMD decoder is 40 times faster than
            # binascii's on it (the milter's largest cost on large attachments).
            out = pybase64.b64decode(data[:whole], validate=True) if whole else b""
            compact = compact[len(regular):]
        return out + self._feed_slowly(compact) if compact else out

    def _feed_slowly(self, chunk: bytes) -> bytes:
        out = bytearray()
        for byte in chunk:
            if byte in _BASE64_ALPHABET:
                if self._padded:
                    self.irregular = True   # data after padding: a new segment
                    self._padded = False
                self._group.append(byte)
                if len(self._group) == 4:
                    out += binascii.a2b_base64(bytes(self._group))
                    self._group.clear()
            elif byte == ord("="):
                self._padded = True
                out += self._flush()
            elif byte not in _WHITESPACE:
                self.irregular = True
        return bytes(out)

    def _flush(self) -> bytes:
        group = bytes(self._group)
        self._group.clear()
        if len(group) < 2:          # a lone character carries no whole byte
            if group:
                self.irregular = True
            return b""
        return binascii.a2b_base64(group + b"=" * (-len(group) % 4))


def decode_quoted_printable(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        cut = pending.rfind(b"\n") + 1
        if cut:
            yield binascii.a2b_qp(pending[:cut])
            pending = pending[cut:]
    if pending:
        yield binascii.a2b_qp(pending)


def lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The chunks as lines (with their endings); a line longer than 64 KiB is cut there,
    however the chunks fall. Each line is sliced from where the last ended: cutting it
    off the front of the rest instead copied the rest once a line (quadratic)."""
    pending = b""
    for chunk in chunks:
        data = pending + chunk
        start = 0
        while ((cut := data.find(b"\n", start, start + 65536) + 1)
               or len(data) - start > 65536):
            cut = cut or start + 65536
            yield data[start:cut]
            start = cut
        pending = data[start:]
    if pending:
        yield pending


def decode_uu_lines(source: Iterable[bytes]) -> Iterator[bytes]:
    """The data of uuencoded lines, leniently: each line gives the bytes its length
    character announces, whatever trails them (clients ignore it too)."""
    for line in source:
        line = line.rstrip(b"\r\n")
        if not line or line.strip() in (b"`", b"end"):
            continue
        count = (line[0] - 32) & 63
        needed = (count + 2) // 3 * 4
        data = line[1:1 + needed].ljust(needed, b" ")
        try:
            yield binascii.a2b_uu(bytes([line[0]]) + data)[:count]
        except binascii.Error:   # characters outside uuencode's range: not data
            continue


def decode_yenc_lines(source: Iterable[bytes]) -> Iterator[bytes]:
    """yEnc: every byte is the original plus 42; '=' escapes the next one (plus 64)."""
    for line in source:
        line = line.rstrip(b"\r\n")
        if line.startswith((b"=ypart ", b"=yend")):
            continue
        out = bytearray()
        escaped = False
        for byte in line:
            if escaped:
                out.append((byte - 106) % 256)
                escaped = False
            elif byte == ord("="):
                escaped = True
            else:
                out.append((byte - 42) % 256)
        yield bytes(out)


@dataclass(frozen=True)
class InlineBlock:
    """An encoded file inside a text part: lines [first, last) of the decoded text."""

    kind: str                # "uuencode" or "yenc"
    first: int
    last: int


def find_inline_blocks(text_lines: Iterable[bytes]) -> list[InlineBlock]:
    blocks: list[InlineBlock] = []
    open_kind, open_at = None, 0
    for number, line in enumerate(text_lines):
        if open_kind is None:
            if _UU_BEGIN.match(line):
                open_kind, open_at = "uuencode", number + 1
            elif _YENC_BEGIN.match(line):
                open_kind, open_at = "yenc", number + 1
        elif (open_kind == "uuencode" and line.rstrip() == b"end") or (
                open_kind == "yenc" and line.startswith(b"=yend")):
            blocks.append(InlineBlock(open_kind, open_at, number))
            open_kind = None
    if open_kind is not None:   # never ended: clients still decode what is there
        blocks.append(InlineBlock(open_kind, open_at, 1 << 62))
    return blocks


def block_data(text_lines: Iterable[bytes], block: InlineBlock) -> Iterator[bytes]:
    selected = (line for number, line in enumerate(text_lines)
                if block.first <= number < block.last)
    decode: Callable[[Iterable[bytes]], Iterator[bytes]] = (
        decode_uu_lines if block.kind == "uuencode" else decode_yenc_lines)
    return decode(selected)
