"""Messages and attachments the tests build: viruses inside zips, attached messages,
encrypted archives (no test data files to go stale)."""

from __future__ import annotations

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
