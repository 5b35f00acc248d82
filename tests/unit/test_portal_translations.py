"""Every text of the portal exists in German and English: the catalogues hold every
message the code and templates use, German translates each, and the compiled catalogues
the portal loads are those of the .po files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask_babel import Babel, force_locale

from mailbasic.portal.catalogues import TRANSLATIONS, extract
from mailbasic.portal.views.common import translated
from mailbasic.rules.sieve import SieveError, parse


def catalog(language: str):
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as stream:
        return read_po(stream)


def extracted(tmp_path: Path) -> set[str]:
    """What `make translations` extracts: gettext's names and the refusals' templates."""
    output = tmp_path / "messages.pot"
    extract(output)
    with output.open("rb") as stream:
        return {message.id for message in read_po(stream) if message.id}


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


@pytest.fixture
def german_request() -> Iterator[None]:
    """A request of an app named as the portal's (so its catalogues load), German as the
    portal's default; no database, no views."""
    app = Flask("mailbasic.portal")
    Babel(app, locale_selector=lambda: "de")
    with app.test_request_context():
        yield


def test_a_sieve_refusal_is_shown_in_german_and_stays_english_for_the_cli(german_request):
    with pytest.raises(SieveError) as refused:
        parse('keep;\nif header :frob "a" "b" { keep; }\n')
    assert str(refused.value) == "line 2: header does not take :frob"
    assert translated(refused.value) == "Zeile 2: header erlaubt kein :frob"
    with force_locale("en"):
        assert translated(refused.value) == str(refused.value)
