"""What of one MIME part the virus scanner reads: the body decoded as a client decodes
it; the raw bytes too when the decoding was in doubt; and every uuencoded or yEnc file
written inline in a text part. Each is a stream, read from the spool when scanned, so
memory stays bounded whatever the part's size."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from mailbasic.milter import decoding
from mailbasic.milter.mime import Part, read_range

_DECODED_ENCODINGS = ("base64", "quoted-printable", *decoding.UUENCODE_NAMES)
_KNOWN_ENCODINGS = (*decoding.PLAIN_ENCODINGS, *_DECODED_ENCODINGS)


@dataclass(frozen=True)
class Content:
    what: str                            # for the log: "decoded", "raw", "uuencoded file"
    chunks: Iterator[bytes]


def contents(spool: BinaryIO, part: Part) -> Iterator[Content]:
    """Lazily: whether the raw bytes follow is known only once the decoded ones were
    read."""
    doubtful = DoubtfulDecoding(part)
    text_part = part.content_type.startswith("text/")
    begin = Sighting(b"begin")     # in "begin 644 name" (uuencode) and "=ybegin" (yEnc)
    decoded = doubtful.decode(_raw(spool, part))
    yield Content("decoded", begin.watch(decoded) if text_part else decoded)
    if doubtful.in_doubt:
        yield Content("raw", _raw(spool, part))
    if text_part and begin.possible:
        def text() -> Iterator[bytes]:
            return decoding.lines(DoubtfulDecoding(part).decode(_raw(spool, part)))
        for block in decoding.find_inline_blocks(text()):
            yield Content(f"inline {block.kind} file", decoding.block_data(text(), block))


class Sighting:
    """Whether a stream, read to its end, holds NEEDLE (across the seams of its chunks).
    A text part that never says "begin" holds no inline file: its lines need not be
    decoded and read again, by far the larger cost of a text part."""

    def __init__(self, needle: bytes) -> None:
        self.needle = needle
        self.seen = False
        self.ended = False

    @property
    def possible(self) -> bool:
        """False only when the whole stream was read without NEEDLE (a scan that stopped
        early leaves it True)."""
        return self.seen or not self.ended

    def watch(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        overlap = len(self.needle) - 1
        tail = b""
        for chunk in chunks:
            if not self.seen:
                self.seen = (self.needle in chunk
                             or self.needle in tail + chunk[:overlap])
                tail = (tail + chunk[-overlap:])[-overlap:]
            yield chunk
        self.ended = True


class DoubtfulDecoding:
    """Decodes a part's body and remembers whether another reader might see it
    differently."""

    def __init__(self, part: Part) -> None:
        self.encoding = part.transfer_encoding
        self.in_doubt = not part.exact_encoding or self.encoding not in _KNOWN_ENCODINGS
        self.base64: decoding.Base64Decoder | None = None

    def decode(self, raw: Iterator[bytes]) -> Iterator[bytes]:
        if self.encoding == "base64":
            self.base64 = decoding.Base64Decoder()
            return self._noting_irregularity(self.base64.decode(raw))
        if self.encoding == "quoted-printable":
            return decoding.decode_quoted_printable(raw)
        if self.encoding in decoding.UUENCODE_NAMES:
            return decoding.decode_uu_lines(_after_begin(decoding.lines(raw)))
        return raw

    def _noting_irregularity(self, decoded: Iterator[bytes]) -> Iterator[bytes]:
        yield from decoded
        if self.base64 is not None and self.base64.irregular:
            self.in_doubt = True


def _raw(spool: BinaryIO, part: Part) -> Iterator[bytes]:
    return read_range(spool, part.body_start, part.end)


def _after_begin(text_lines: Iterator[bytes]) -> Iterator[bytes]:
    """A uuencoded body: the lines after its "begin" line (all of them if there is
    none)."""
    buffered: list[bytes] = []
    for line in text_lines:
        if line.startswith(b"begin"):
            yield from text_lines
            return
        buffered.append(line)
        if len(buffered) > 16:   # no "begin" near the top: the body is the data
            break
    yield from buffered
    yield from text_lines

