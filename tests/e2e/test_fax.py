"""Fax to e-mail through the real Postfix into Dovecot: the gateway's hook as a process,
a two-page fax as PDF and as TIFF, and the refusals that keep the file."""

from __future__ import annotations

import email
import email.policy
import io
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from mailbasic.config import render_settings
from tests.conftest import Cli

DOMAIN = "fax.example"
MAILBASIC = str(Path(sys.executable).parent / "mailbasic")


@pytest.fixture(scope="module")
def faxing(postfix, tmp_path_factory):
    settings = replace(postfix.settings, bcrypt_cost=4)
    directory = tmp_path_factory.mktemp("fax")
    cli = Cli(settings, directory)
    cli.ok("domain", "add", DOMAIN)
    for name in ("pdf.fax", "tiff.fax"):
        cli.ok("customer", "add", name, "--domain", DOMAIN, "--password-stdin",
               input="a fax secret\n")
    cli.ok("fax", "set", f"pdf.fax@{DOMAIN}", "+49 30 1234-567")
    cli.ok("fax", "set", f"tiff.fax@{DOMAIN}", "4940999", "--format", "tiff")
    config = directory / "mailbasic.toml"
    config.write_text(render_settings(settings))
    return config


def fax_file(directory: Path, pages: int = 2) -> Path:
    images = []
    for number in range(pages):
        page = Image.new("1", (1728, 2200), 1)
        ImageDraw.Draw(page).rectangle((100, 100 + 300 * number, 900, 300 + 300 * number),
                                       fill=0)
        images.append(page)
    path = directory / "fax.tif"
    images[0].save(path, "TIFF", save_all=True, append_images=images[1:],
                   compression="group4", dpi=(204, 196))
    return path


def hook(config: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([MAILBASIC, "--config", str(config), "fax", "deliver", *arguments],
                          capture_output=True, text=True, timeout=120)


def arrived(stack, user: str) -> email.message.EmailMessage:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = json.loads(stack.dovecot.doveadm("-f", "json", "fetch", "-u", user, "text",
                                                 "mailbox", "INBOX", "all"))
        if found:
            return email.message_from_string(found[-1]["text"], policy=email.policy.default)
        time.sleep(0.3)
    queue = subprocess.run(["postqueue", "-c", str(stack.postfix.config_directory), "-p"],
                           capture_output=True, text=True, timeout=30).stdout
    pytest.fail(f"no fax arrived for {user}; Postfix's queue:\n{queue[-3000:]}")


def attachment(message) -> tuple[str, bytes]:
    part = next(message.iter_attachments())
    return part.get_content_type(), part.get_content()


def test_a_fax_arrives_as_pdf_with_sender_and_page_count(postfix, faxing, tmp_path):
    path = fax_file(tmp_path)
    done = hook(faxing, "--number", "4930 1234567", "--sender", "+49 89 555 0100", str(path))
    assert done.returncode == 0, done.stderr
    message = arrived(postfix, f"pdf.fax@{DOMAIN}")
    assert message["Subject"] == "Fax from +49 89 555 0100, 2 pages"
    media_type, content = attachment(message)
    assert media_type == "application/pdf" and content.startswith(b"%PDF")
    assert path.exists()


def test_a_fax_arrives_as_black_and_white_tiff(postfix, faxing, tmp_path):
    done = hook(faxing, "--number", "4940999", str(fax_file(tmp_path, pages=3)))
    assert done.returncode == 0, done.stderr
    message = arrived(postfix, f"tiff.fax@{DOMAIN}")
    assert message["Subject"] == "Fax from an unknown number, 3 pages"
    media_type, content = attachment(message)
    assert media_type == "image/tiff"
    with Image.open(io.BytesIO(content)) as image:
        assert image.n_frames == 3 and image.mode == "1"


def test_an_unknown_number_is_refused_and_the_file_kept(faxing, tmp_path):
    path = fax_file(tmp_path)
    done = hook(faxing, "--number", "4900000", str(path))
    assert done.returncode == 4
    assert "no mailbox receives faxes for 4900000" in done.stderr
    assert path.exists()


def test_an_unreadable_file_is_refused_and_kept(faxing, tmp_path):
    path = tmp_path / "broken.tif"
    path.write_bytes(b"II*\x00 not really a fax")
    done = hook(faxing, "--number", "4940999", str(path))
    assert done.returncode == 7 and "broken.tif" in done.stderr
    assert path.read_bytes() == b"II*\x00 not really a fax"
