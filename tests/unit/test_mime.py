"""MIME structure by byte offsets, including the malformed messages real senders send."""

import base64
import io

import pytest

from mailbasic.milter import mime
from mailbasic.milter.contents import contents


def structure(raw: bytes) -> mime.Part:
    return mime.parse(io.BytesIO(raw))


def body_of(raw: bytes, part: mime.Part) -> bytes:
    """The part's body as the virus scanner gets it first: decoded."""
    first = next(contents(io.BytesIO(raw), part))
    assert first.what == "decoded"
    return b"".join(first.chunks)


def leaves(raw: bytes):
    return [(leaf.content_type, leaf.filename, body_of(raw, leaf))
            for leaf in structure(raw).leaves()]


SIMPLE = (b"From: a@example.org\r\nSubject: hi\r\n\r\nHello\r\nWorld\r\n")

MULTIPART = (b"From: a@example.org\r\nMIME-Version: 1.0\r\n"
             b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
             b"preamble\r\n"
             b"--b1\r\nContent-Type: text/plain\r\n\r\nbody text\r\n"
             b"--b1\r\nContent-Type: application/octet-stream\r\n"
             b'Content-Disposition: attachment; filename="a.bin"\r\n'
             b"Content-Transfer-Encoding: base64\r\n\r\n"
             + base64.encodebytes(b"binary \x00\x01 data").replace(b"\n", b"\r\n")
             + b"--b1--\r\nepilogue\r\n")


def test_single_part_body():
    root = structure(SIMPLE)
    assert (root.start, root.body_start, root.end) == (0, SIMPLE.index(b"Hello"), len(SIMPLE))
    assert leaves(SIMPLE) == [("text/plain", None, b"Hello\r\nWorld\r\n")]


def test_multipart_offsets_and_decoding():
    root = structure(MULTIPART)
    text, attachment = root.children
    assert MULTIPART[text.start:text.end] == b"Content-Type: text/plain\r\n\r\nbody text"
    assert MULTIPART[attachment.end:attachment.end + 9] == b"\r\n--b1--\r"
    assert leaves(MULTIPART) == [("text/x-mime-preamble", None, b"preamble"),
                                 ("text/plain", None, b"body text"),
                                 ("application/octet-stream", "a.bin", b"binary \x00\x01 data"),
                                 ("text/x-mime-epilogue", None, b"epilogue\r\n")]


def test_a_large_body_is_passed_over_up_to_each_line_that_could_be_a_delimiter():
    # The parser reads a body in blocks up to the next line starting with "-": such
    # lines inside a body (not delimiters), a block's end inside a line, a line longer
    # than a block, and a bare LF before the delimiter are all where they belong.
    payload = (base64.encodebytes(bytes(range(256)) * 2000).replace(b"\n", b"\r\n")
               + b"-- not a delimiter\r\n-x-\r\n" + b"x" * 200_000 + b"\r\n"
               + base64.encodebytes(b"tail").replace(b"\n", b"\r\n")[:-2] + b"\n")
    raw = (b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
           b"--b1\r\nContent-Type: application/octet-stream\r\n\r\n" + payload
           + b"--b1\r\nContent-Type: text/plain\r\n\r\nlast\r\n--b1--\r\n")
    attachment, text = structure(raw).children
    assert raw[attachment.body_start:attachment.end] == payload[:-1]  # the LF is the
    assert raw[text.start:text.end] == b"Content-Type: text/plain\r\n\r\nlast"  # delimiter's


@pytest.mark.parametrize("dashes_before", [0, 1, 8, 9, 40])
def test_dashes_inside_lines_do_not_hide_the_delimiter_after_them(dashes_before):
    # The body is searched for a "-" and the byte before it looked at, a few times, then
    # for "\n-": dashes inside lines, however many, end neither search early or late.
    words = b"-".join([b"well"] * (dashes_before + 1))
    raw = (b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
           b"--b1\r\n\r\n" + words + b"\r\n" + words + b" -x\r\n"
           b"--b1\r\nContent-Type: text/plain\r\n\r\nlast\r\n--b1--\r\n")
    first, second = structure(raw).children
    assert raw[first.body_start:first.end] == words + b"\r\n" + words + b" -x"
    assert raw[second.body_start:second.end] == b"last"


def test_a_part_without_content_headers_has_the_defaults():
    part = structure(b"From: a@example.org\r\nX-Note: plain\r\n\r\nbody\r\n")
    assert (part.content_type, part.transfer_encoding, part.exact_encoding, part.filename,
            part.boundary) == ("text/plain", "7bit", True, None, None)
    lower = structure(b"content-type: text/html\r\ncontent-transfer-encoding: base64\r\n\r\n")
    assert (lower.content_type, lower.transfer_encoding) == ("text/html", "base64")


def test_nested_multipart_and_attached_message():
    inner = (b'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n'
             b"--inner\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
             b"--inner\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--inner--\r\n")
    attached = (b"Content-Type: message/rfc822\r\n\r\n"
                b"From: b@example.org\r\nSubject: fwd\r\n"
                b'Content-Type: multipart/mixed; boundary="deep"\r\n\r\n'
                b'--deep\r\nContent-Type: application/zip; name="x.zip"\r\n\r\nZIPDATA\r\n'
                b"--deep--\r\n")
    raw = (b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
           b"--outer\r\n" + inner + b"--outer\r\n" + attached + b"--outer--\r\n")
    assert [(t, f) for t, f, _ in leaves(raw)] == [
        ("text/plain", None), ("text/html", None), ("application/zip", "x.zip")]
    assert leaves(raw)[2][2] == b"ZIPDATA"
    message_part = structure(raw).children[1]
    assert message_part.is_message


def test_missing_boundary_parameter_is_one_blob():
    raw = b"Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nsomething\r\n--x--\r\n"
    [(content_type, _, body)] = leaves(raw)
    assert content_type == "application/octet-stream"
    assert body == b"--x\r\n\r\nsomething\r\n--x--\r\n"


def test_boundary_that_never_appears_keeps_everything_in_the_preamble():
    raw = b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\nall of it\r\n'
    root = structure(raw)
    assert root.children == [] and root.end == len(raw)
    assert [leaf.body_start for leaf in root.leaves()] == [raw.index(b"all")]


def test_missing_close_delimiter_ends_at_end_of_message():
    raw = (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           b"--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--b\r\n\r\nsecond\r\n")
    assert [body for _, _, body in leaves(raw)] == [b"first", b"second\r\n"]


def test_duplicate_boundary_in_nested_multipart_does_not_crash_or_lose_bytes():
    raw = (b'Content-Type: multipart/mixed; boundary="same"\r\n\r\n'
           b'--same\r\nContent-Type: multipart/mixed; boundary="same"\r\n\r\n'
           b"--same\r\n\r\ninner\r\n--same--\r\n"
           b"--same\r\n\r\nafter\r\n--same--\r\n")
    bodies = [body for _, _, body in leaves(raw)]
    assert b"inner" in bodies and b"after" in bodies


def test_deep_nesting_stops_at_max_depth():
    depth = mime.MAX_DEPTH + 10
    raw = b""
    for level in range(depth):
        raw += b'Content-Type: multipart/mixed; boundary="l%d"\r\n\r\n--l%d\r\n' % (level, level)
    raw += b"Content-Type: text/plain\r\n\r\ncore\r\n"
    for level in reversed(range(depth)):
        raw += b"--l%d--\r\n" % level
    found = list(structure(raw).leaves())
    assert max(leaf.depth for leaf in found) <= mime.MAX_DEPTH
    assert any(b"core" in body_of(raw, leaf) for leaf in found)


def test_broken_base64_is_decoded_leniently():
    raw = (b"Content-Transfer-Encoding: base64\r\n\r\n"
           b"SGVs!!bG8g\r\nd29y*bGQ\r\n")  # junk characters, missing padding
    assert leaves(raw)[0][2] == b"Hello world"


def test_quoted_printable():
    raw = b"Content-Transfer-Encoding: quoted-printable\r\n\r\nB=C3=BCro =\r\nsoft break\r\n"
    assert leaves(raw)[0][2] == "Büro soft break\r\n".encode()


def test_eight_bit_headers_and_rfc2231_filenames():
    raw = (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           b"--b\r\nSubject: gr\xfc\xdfe\r\n"
           b"Content-Disposition: attachment; filename*=UTF-8''Rechnung%20B%C3%BCro.pdf\r\n"
           b"\r\npdf\r\n"
           b"--b\r\nContent-Type: application/octet-stream;\r\n"
           b' name="=?UTF-8?B?w7xiZXIuZXhl?="\r\n\r\nexe\r\n--b--\r\n')
    assert [filename for _, filename, _ in leaves(raw)] == ["Rechnung Büro.pdf", "über.exe"]


def test_part_with_no_body_and_no_blank_line():
    raw = (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           b"--b\r\nContent-Type: text/plain\r\n"
           b"--b\r\n\r\nnext\r\n--b--\r\n")
    bodies = [body for _, _, body in leaves(raw)]
    assert bodies == [b"", b"next"]


def test_message_without_blank_line_has_an_empty_body():
    raw = b"Subject: only headers\r\nFrom: a@example.org\r\n"
    root = structure(raw)
    assert root.body_start == root.end == len(raw)


def test_long_lines_are_read_in_pieces():
    raw = b"Content-Type: text/plain\r\n\r\n" + b"x" * (3 * mime.MAX_LINE) + b"\r\n"
    assert len(leaves(raw)[0][2]) == 3 * mime.MAX_LINE + 2


@pytest.mark.parametrize("raw", [b"", b"\r\n", b"--\r\n", b"\xff\xfe\x00garbage"])
def test_degenerate_input(raw):
    root = structure(raw)
    assert root.end == len(raw)


def test_rewrite_replaces_only_the_given_range():
    root = structure(MULTIPART)
    attachment = root.children[1]
    body_offset = root.body_start
    new = b"".join(mime.rewrite_body(io.BytesIO(MULTIPART), body_offset, len(MULTIPART),
                                     {attachment.start: (attachment.end, b"NOTICE")}))
    expected = MULTIPART[body_offset:attachment.start] + b"NOTICE" + MULTIPART[attachment.end:]
    assert new == expected


def test_well_formed_messages_have_no_anomalies():
    assert structure(MULTIPART).anomalies == []
    assert structure(SIMPLE).anomalies == []


@pytest.mark.parametrize("raw, anomaly", [
    (b"Content-Type: multipart/mixed\r\n\r\nbody\r\n", "without a usable boundary"),
    (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\nx\r\n',
     "without its close delimiter"),
    (b"Subject: x\r\n--junk line\r\n\r\nbody\r\n", "not a header"),
    (b'Content-Type: multipart/mixed; boundary="o"\r\n\r\n--o\r\n'
     b'Content-Type: multipart/mixed; boundary="i"\r\n\r\n--i\r\n\r\nx\r\n--o--\r\n',
     "inner multipart ended by an outer boundary"),
])
def test_malformed_structures_are_flagged(raw, anomaly):
    assert any(anomaly in found for found in structure(raw).anomalies)


def test_the_number_of_parts_is_bounded():
    raw = (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           + b"--b\r\n\r\nx\r\n" * (mime.MAX_PARTS * 3) + b"--b--\r\n")
    root = structure(raw)
    assert len(list(root.leaves())) < mime.MAX_PARTS
    assert any("parts" in anomaly for anomaly in root.anomalies)
