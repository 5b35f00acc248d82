"""TOTP codes for the tests that confirm a second factor with the previous step's code
(so that the login after it can use the current one: a code is accepted once).

The previous step's code is accepted only until the next step begins; computed just
before a step boundary, it reaches the server two steps old and is refused. Such a test
waits for a fresh step when the current one is nearly over."""

from __future__ import annotations

import time

import pyotp

# Time a test may take between taking the code and the server checking it.
MARGIN_SECONDS = 10


def previous_step_code(totp: pyotp.TOTP) -> str:
    left = totp.interval - time.time() % totp.interval
    if left < MARGIN_SECONDS:
        time.sleep(left + 0.1)
    return str(totp.at(time.time() - totp.interval))
