"""The portal's message catalogues: what `make translations` runs, and what the
translation test checks against, from one list of extraction keywords.

Besides gettext's own names, the first argument of every refusal the service layer
raises is a message (mailbasic/errors.py): the portal shows refusals translated.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.frontend import CommandLineInterface

PORTAL = Path(__file__).parent
ROOT = PORTAL.parents[1]
TRANSLATIONS = PORTAL / "translations"
KEYWORDS = ("lazy_gettext", "InvalidInput", "NotAllowed", "LimitReached", "AlreadyExists",
            "NotFound", "Conflict")


def extract(output: Path) -> None:
    keywords = [argument for keyword in KEYWORDS for argument in ("-k", keyword)]
    _pybabel("extract", "-F", str(PORTAL / "babel.cfg"), *keywords, "--no-location",
             "--sort-output", "-o", str(output), str(ROOT))


def update_and_compile() -> None:
    """Extract, merge into German and English (no fuzzy guesses), compile."""
    template = TRANSLATIONS / "messages.pot"
    extract(template)
    _pybabel("update", "-i", str(template), "-d", str(TRANSLATIONS),
             "--no-fuzzy-matching", "--ignore-obsolete", "--width", "100")
    _pybabel("compile", "-d", str(TRANSLATIONS))


def _pybabel(*arguments: str) -> None:
    CommandLineInterface().run(["pybabel", "--quiet", *arguments])


if __name__ == "__main__":
    update_and_compile()
    sys.exit(0)
