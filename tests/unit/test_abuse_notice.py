"""What a customer is told when sending from a mailbox was stopped, and the [abuse]
settings: text and parsing only, no servers."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest

from mailbasic.abuse import notice
from mailbasic.config import Settings, load_settings, render_settings
from mailbasic.errors import ConfigError
from mailbasic.schema.sms import SMS_LENGTH

DATABASE = '[database]\nurl = "postgresql://mailbasic:pw@127.0.0.1:5432/mailbasic"\n'
NOW = datetime(2026, 11, 30, 9, 4, tzinfo=UTC)


@pytest.mark.parametrize("login", ["rita@example.net", "a" * 30 + "@" + "b" * 60 + ".example"])
def test_the_sms_fits_one_message_and_names_the_login_and_what_to_do(login):
    text = notice.sms_text(login)
    assert len(text) <= SMS_LENGTH and text.startswith(f"Sending from {login} was stopped")
    if len(login) < 40:
        assert text.endswith("Change the password, then ask support to resume.")


def test_the_mail_goes_to_the_other_mailbox_from_postmaster_and_says_what_to_do():
    raw = notice.compose_mail("rita@example.net", "rita.home@example.net",
                              "3 sending incidents within 60 minutes, the last: spam "
                              "(outgoing mail scored 1000.0/5.0 (GTUBE))", NOW,
                              "example.net", "https://portal.example.net")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["From"] == "Mail service <postmaster@example.net>"
    assert message["To"] == "rita.home@example.net"
    assert message["Subject"] == "Sending from rita@example.net has been stopped"
    assert message["Auto-Submitted"] == "auto-generated"  # nobody auto-replies to it
    body = message.get_content()
    assert all(len(line) <= notice.WIDTH for line in body.splitlines())
    flat = " ".join(body.split())
    for expected in ("on 2026-11-30 at 09:04 UTC", "scored 1000.0/5.0 (GTUBE)",
                     "still receives mail", "Change the password of rita@example.net",
                     "https://portal.example.net/", "resume sending for rita@example.net",
                     "at rita.home@example.net, the other mailbox of your account"):
        assert expected in flat, expected


def test_abuse_settings_default_load_and_render_back(tmp_path):
    assert (Settings().abuse_incidents, Settings().abuse_window_minutes) == (3, 60)
    path = tmp_path / "mailbasic.toml"
    path.write_text(DATABASE + "[abuse]\nincidents = 5\nwindow_minutes = 1440\n")
    settings = load_settings(path, environ={})
    assert (settings.abuse_incidents, settings.abuse_window_minutes) == (5, 1440)
    path.write_text(render_settings(settings))
    assert load_settings(path, environ={}) == settings


@pytest.mark.parametrize("text, message", [
    ("incidents = 0", "abuse.incidents must be a number of incidents from 1 to 1000"),
    ('incidents = "3"', "abuse.incidents must be a number of incidents from 1 to 1000"),
    ("window_minutes = 20000", "abuse.window_minutes must be a number of minutes from 1 "
                               "to 10080"),
    ("window = 60", "unknown setting abuse.window"),
])
def test_bad_abuse_settings_are_one_clear_error(tmp_path, text, message):
    path = tmp_path / "mailbasic.toml"
    path.write_text(f"{DATABASE}[abuse]\n{text}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(path, environ={})
