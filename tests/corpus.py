"""Messages and attachments the tests build: viruses inside zips, attached messages,
encrypted archives (no test data files to go stale)."""

from __future__ import annotations

import base64
import binascii
import io
import zipfile
from email.message import EmailMessage

from mailbasic.devstack.clamd import EICAR

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def zipped(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


def encrypted_zip() -> bytes:
    """A zip whose entry is flagged encrypted: nobody, clamd included, can look inside."""
    data = bytearray(zipped("secret.txt", b"x" * 100))
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    data[local + 6] |= 1      # general purpose flag, bit 0: encrypted
    data[central + 8] |= 1
    return bytes(data)


def mail(subject: str, text: str = "Hello.\n", sender: str = "someone@remote.example",
         recipient: str = "alice@example.net") -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, recipient, subject
    message.set_content(text)
    return message


def with_attachment(message: EmailMessage, content: bytes, filename: str,
                    subtype: str = "octet-stream") -> EmailMessage:
    message.add_attachment(content, maintype="application", subtype=subtype,
                           filename=filename)
    return message


def virus_attached(subject: str = "invoice") -> EmailMessage:
    return with_attachment(mail(subject, "Please see the attachment.\n"), EICAR, "invoice.exe")


def virus_zipped(subject: str = "zipped") -> EmailMessage:
    return with_attachment(mail(subject, "Zipped.\n"), zipped("eicar.com", EICAR),
                           "archive.zip", "zip")


def virus_in_attached_message(subject: str = "forwarded") -> EmailMessage:
    outer = mail(subject, "A forwarded message.\n")
    outer.add_attachment(virus_attached("inner"))
    return outer


def virus_only(subject: str = "only virus") -> bytes:
    return (f"From: someone@remote.example\r\nTo: alice@example.net\r\n"
            f"Subject: {subject}\r\nContent-Type: application/octet-stream\r\n"
            "Content-Disposition: attachment; filename=\"eicar.com\"\r\n\r\n").encode() + EICAR


# Ways to hide EICAR from a scanner that decodes strictly, while mail clients (or
# coreutils' base64 -d) still recover it. Built here, never downloaded.

def _raw_mail(subject: str, headers: str, body: bytes) -> bytes:
    return (f"From: someone@remote.example\r\nTo: alice@example.net\r\n"
            f"Subject: {subject}\r\nMIME-Version: 1.0\r\n{headers}\r\n").encode() + body


def uuencoded(data: bytes, name: str = "x.com") -> bytes:
    lines = [binascii.b2a_uu(data[start:start + 45])
             for start in range(0, len(data), 45)]
    return f"begin 644 {name}\n".encode() + b"".join(lines) + b"`\nend\n"


def yencoded(data: bytes, name: str = "x.com") -> bytes:
    out = bytearray()
    for byte in data:
        coded = (byte + 42) % 256
        if coded in (0, 10, 13, ord("=")):
            out += b"=" + bytes([(coded + 64) % 256])
        else:
            out.append(coded)
    return (f"=ybegin line=128 size={len(data)} name={name}\r\n".encode() + bytes(out)
            + f"\r\n=yend size={len(data)}\r\n".encode())


def base64_padded_every(data: bytes, step: int) -> bytes:
    """Each `step` bytes encoded on their own, padding and all, then joined: coreutils'
    decoder reads it back whole, a decoder that drops '=' reads garbage."""
    return b"".join(base64.b64encode(data[start:start + step])
                    for start in range(0, len(data), step)) + b"\r\n"


def evasions() -> dict[str, bytes]:
    """name -> a whole message that carries EICAR in a shape a client decodes."""
    text = "Content-Type: text/plain; charset=us-ascii\r\n"
    attachment = ('Content-Type: application/octet-stream\r\n'
                  'Content-Disposition: attachment; filename="x.com"\r\n')
    encoded = base64.encodebytes(EICAR)
    return {
        "inline uuencode in text": _raw_mail(
            "uu", text, b"See below.\r\n\r\n" + uuencoded(EICAR).replace(b"\n", b"\r\n")
            + b"\r\nBye.\r\n"),
        "inline yEnc in text": _raw_mail(
            "yenc", text, b"See below.\r\n" + yencoded(EICAR) + b"Bye.\r\n"),
        "base64 padded every 4 bytes": _raw_mail(
            "pad4", attachment + "Content-Transfer-Encoding: base64\r\n",
            base64_padded_every(EICAR, 4)),
        "base64 padded every 5 bytes": _raw_mail(
            "pad5", attachment + "Content-Transfer-Encoding: base64\r\n",
            base64_padded_every(EICAR, 5)),
        "base64 (x)": _raw_mail(
            "comment", attachment + "Content-Transfer-Encoding: base64 (x)\r\n", encoded),
        "BASE64 upper case": _raw_mail(
            "upper", attachment + "Content-Transfer-Encoding: BASE64\r\n", encoded),
        "base64 with garbage": _raw_mail(
            "garbage", attachment + "Content-Transfer-Encoding: base64\r\n",
            b"!".join(encoded[i:i + 7] for i in range(0, len(encoded), 7))),
        "x-uuencode attachment": _raw_mail(
            "x-uue", attachment + "Content-Transfer-Encoding: x-uuencode\r\n",
            uuencoded(EICAR).replace(b"\n", b"\r\n")),
    }


def nested(depth: int, subject: str = "nested") -> bytes:
    """A message with `depth` levels of multipart/mixed around a short text."""
    head, tail = b"", b""
    for level in range(depth):
        boundary = f"b{level}".encode()
        head += (b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n--"
                 + boundary + b"\r\n")
        tail = b"\r\n--" + boundary + b"--\r\n" + tail
    return _raw_mail(subject, "", b"") .rstrip(b"\r\n") + b"\r\n" + head + (
        b"Content-Type: text/plain\r\n\r\ndeep inside\r\n") + tail


def many_parts(count: int, subject: str = "many parts") -> bytes:
    parts = b"".join(b"--sep\r\nContent-Type: text/plain\r\n\r\npart\r\n" for _ in range(count))
    return _raw_mail(subject, "Content-Type: multipart/mixed; boundary=sep\r\n",
                     parts + b"--sep--\r\n")
