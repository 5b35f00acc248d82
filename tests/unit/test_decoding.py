"""Transfer decoding as lenient clients do it: every shape of tests/corpus.evasions()
yields EICAR whole among the contents the virus stage scans; base64 agrees with
coreutils' `base64 -d`."""

from __future__ import annotations

import base64
import io
import random
import subprocess

import pytest

from mailbasic.devstack.clamd import EICAR
from mailbasic.milter import contents as contents_module
from mailbasic.milter import decoding, mime
from mailbasic.milter.contents import contents
from tests.corpus import base64_padded_every, evasions, uuencoded, yencoded


def scanned(raw: bytes) -> list[tuple[str, bytes]]:
    spool = io.BytesIO(raw)
    root = mime.parse(spool)
    return [(content.what, b"".join(content.chunks))
            for part in root.leaves() for content in contents(spool, part)]


@pytest.mark.parametrize("shape", sorted(evasions()))
def test_every_evasion_reaches_the_scanner_whole(shape):
    assert any(data.strip() == EICAR for _, data in scanned(evasions()[shape])), shape


def test_a_clean_text_part_is_scanned_once():
    raw = b"Content-Type: text/plain\r\n\r\nJust words, no begin line.\r\n"
    assert [what for what, _ in scanned(raw)] == ["decoded"]


@pytest.mark.parametrize("header, expected", [
    ("base64", ("base64", True)), ("BASE64", ("base64", True)),
    ("base64 (x)", ("base64", False)), (" Quoted-Printable ", ("quoted-printable", True)),
    ("base64; foo=bar", ("base64", False)), (None, ("7bit", True)), ("", ("7bit", True)),
    ("(x)", ("7bit", False)),
])
def test_the_encoding_is_the_first_token(header, expected):
    assert decoding.transfer_encoding(header) == expected


@pytest.mark.parametrize("encoded", [
    base64_padded_every(EICAR, 1), base64_padded_every(EICAR, 2),
    base64_padded_every(EICAR, 4), base64_padded_every(b"hello world!", 5),
    base64.encodebytes(EICAR), b"aGVs\nbG8=\n", b"aGVsbG8=IHdvcmxk\n",
])
def test_base64_decodes_as_coreutils_does(encoded):
    coreutils = subprocess.run(["base64", "-d", "-i"], input=encoded, capture_output=True,
                               check=True).stdout
    decoder = decoding.Base64Decoder()
    assert b"".join(decoder.decode([encoded[i:i + 3] for i in range(0, len(encoded), 3)])) \
        == coreutils


def lines_of(encoded: bytes, length: int, ending: bytes) -> bytes:
    return b"".join(encoded[i:i + length] + ending for i in range(0, len(encoded), length))


@pytest.mark.parametrize("length, ending", [(76, b"\r\n"), (76, b"\n"), (77, b"\r\n"),
                                            (4, b" \r\n"), (6, b"\n"), (3000, b"\r\n")])
@pytest.mark.parametrize("cut", [1, 3, 4, 77, 65536])
def test_base64_decodes_the_same_in_any_chunks_with_garbage_and_padding_anywhere(
        cut, length, ending):
    # Whole lines are decoded in one call, a line cut by a chunk or holding padding or a
    # stray byte as regular runs, the rest byte by byte: the seams between the three (a
    # group cut across chunks or lines, lines not of whole groups, padding or a stray
    # byte in a chunk) change nothing against the byte-by-byte decoder alone.
    payload = bytes(range(256)) * 40
    regular = lines_of(base64.b64encode(payload), length, ending)
    assert b"".join(decoding.Base64Decoder().decode([regular])) == payload
    for encoded in (regular, regular[:700] + b"=" + regular[700:],
                    regular[:1001] + b"*!" + regular[1001:], regular + b"QUJD"):
        reference = decoding.Base64Decoder()
        expected = reference._feed_slowly(encoded) + reference._flush()
        decoder = decoding.Base64Decoder()
        chunks = [encoded[i:i + cut] for i in range(0, len(encoded), cut)]
        assert b"".join(decoder.decode(chunks)) == expected, encoded[:40]
        assert decoder.irregular == reference.irregular == (encoded != regular)


def test_base64_decodes_as_the_byte_by_byte_decoder_on_random_shapes_and_chunks():
    # The fast paths against the reference on 500 seeded random bodies: line lengths,
    # endings, junk, padding and a stray byte anywhere, any chunking.
    rng = random.Random(21)
    for case in range(500):
        encoded = bytearray(lines_of(base64.b64encode(rng.randbytes(rng.randrange(3000))),
                                     rng.choice([1, 3, 4, 64, 76, 77, 5000]),
                                     rng.choice([b"\r\n", b"\n", b" \r\n"])))
        for _ in range(rng.choice([0, 0, 1, 3])):
            position = rng.randrange(len(encoded) + 1)
            encoded[position:position] = rng.choice([b"=", b"==", b"*", b"\t", b"\n", b"A"])
        reference = decoding.Base64Decoder()
        expected = reference._feed_slowly(bytes(encoded)) + reference._flush()
        cuts = sorted(rng.sample(range(len(encoded) + 1), min(4, len(encoded) + 1)))
        chunks = [bytes(encoded[a:b])
                  for a, b in zip([0, *cuts], [*cuts, len(encoded)], strict=True)]
        decoder = decoding.Base64Decoder()
        assert b"".join(decoder.decode(chunks)) == expected, case
        assert decoder.irregular == reference.irregular, case


def test_irregular_base64_is_noted_so_the_raw_part_is_scanned_too():
    raw = (b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64"
           b"\r\n\r\n" + base64_padded_every(EICAR, 4))
    assert [what for what, _ in scanned(raw)] == ["decoded", "raw"]
    regular = (b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64"
               b"\r\n\r\n" + base64.encodebytes(EICAR))
    assert [what for what, _ in scanned(regular)] == ["decoded"]


def test_lines_are_cut_where_they_end_in_any_chunks():
    text = b"a\r\nbb\n\n" + b"x" * 70_000 + b"\nlast"
    for cut in (1, 2, 5, 65536, len(text)):
        chunks = [text[i:i + cut] for i in range(0, len(text), cut)]
        assert list(decoding.lines(chunks)) == [b"a\r\n", b"bb\n", b"\n", b"x" * 65536,
                                                 b"x" * 4464 + b"\n", b"last"], cut


@pytest.mark.parametrize("cut", [1, 2, 4, 5, 1000])
def test_an_inline_block_is_found_when_its_begin_line_spans_chunks(cut):
    text = b"hello\r\n" + uuencoded(EICAR)
    sighting = contents_module.Sighting(b"begin")
    assert b"".join(sighting.watch(iter([text[i:i + cut]
                                         for i in range(0, len(text), cut)]))) == text
    assert sighting.possible
    clean = contents_module.Sighting(b"begin")
    assert b"".join(clean.watch(iter([b"no such ", b"word here"]))) == b"no such word here"
    assert not clean.possible


def test_a_text_stream_not_read_to_its_end_may_still_hold_an_inline_block():
    sighting = contents_module.Sighting(b"begin")
    next(sighting.watch(iter([b"first chunk", b"begin 644 x"])))
    assert sighting.possible


def test_uuencode_and_yenc_round_trip_any_bytes():
    data = bytes(range(256)) * 3
    uu = list(decoding.lines([uuencoded(data)]))
    assert b"".join(decoding.decode_uu_lines(uu[1:])) == data
    yenc = list(decoding.lines([yencoded(data)]))
    assert b"".join(decoding.decode_yenc_lines(yenc[1:])) == data


def test_an_inline_block_never_ended_is_still_decoded():
    raw = b"Content-Type: text/plain\r\n\r\nhi\r\n" + uuencoded(EICAR).replace(b"`\nend\n", b"")
    assert any(data == EICAR for _, data in scanned(raw))
