"""Every text of the portal exists in German and English: the catalogues hold every
message the code and templates use, German translates each, and the compiled catalogues
the portal loads are those of the .po files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

PORTAL = Path(__file__).parents[2] / "mailbasic" / "portal"
TRANSLATIONS = PORTAL / "translations"


def catalog(language: str):
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as stream:
        return read_po(stream)


def extracted(tmp_path: Path) -> set[str]:
    output = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract",
                    "-F", str(PORTAL / "babel.cfg"), *KEYWORDS, "--no-location",
                    "-o", str(output), "."], cwd=PORTAL.parents[1], check=True,
                   capture_output=True)
    with output.open("rb") as stream:
        return {message.id for message in read_po(stream) if message.id}


KEYWORDS = ["-k", "lazy_gettext"]


def test_the_catalogues_hold_every_message_in_use(tmp_path):
    in_use = extracted(tmp_path)
    for language in ("de", "en"):
        known = {message.id for message in catalog(language) if message.id}
        assert in_use - known == set(), f"{language}: run `make translations`"


def test_german_translates_every_message():
    untranslated = [message.id for message in catalog("de")
                    if message.id and (not message.string or message.fuzzy)]
    assert untranslated == []


def test_the_compiled_catalogues_are_the_po_files():
    for language in ("de", "en"):
        with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo").open("rb") as stream:
            compiled = {message.id: message.string for message in read_mo(stream)
                        if message.id}
        written = {message.id: message.string for message in catalog(language)
                   if message.id and message.string and not message.fuzzy}
        assert compiled == written, f"{language}: run `make translations`"
