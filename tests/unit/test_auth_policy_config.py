"""The [auth_policy] section: the brute-force defence's thresholds, with clear refusals of
values that cannot work."""

import re

import pytest

from mailbasic.config import Settings, load_settings, render_settings
from mailbasic.errors import ConfigError


def load(tmp_path, text: str) -> Settings:
    path = tmp_path / "mailbasic.toml"
    path.write_text("[auth_policy]\n" + text)
    return load_settings(path, environ={})


def test_the_defaults():
    settings = Settings()
    assert settings.auth_policy_socket == "inet:10045@127.0.0.1"
    assert (settings.auth_free_failures, settings.auth_max_delay_seconds,
            settings.auth_client_block_failures, settings.auth_account_block_failures,
            settings.auth_block_minutes) == (3, 15, 10, 30, 15)
    assert settings.auth_trusted_networks == ()


def test_every_threshold_is_read(tmp_path):
    settings = load(tmp_path, 'socket = "inet:10099@127.0.0.1"\nfree_failures = 0\n'
                    "max_delay_seconds = 30\nclient_block_failures = 5\n"
                    "account_block_failures = 50\nblock_minutes = 60\nforget_hours = 48\n"
                    'known_client_days = 30\ntrusted_networks = ["192.0.2.0/24", "::1"]\n')
    assert settings.auth_policy_socket == "inet:10099@127.0.0.1"
    assert (settings.auth_free_failures, settings.auth_max_delay_seconds,
            settings.auth_client_block_failures, settings.auth_account_block_failures,
            settings.auth_block_minutes, settings.auth_forget_hours,
            settings.auth_known_client_days) == (0, 30, 5, 50, 60, 48, 30)
    assert settings.auth_trusted_networks == ("192.0.2.0/24", "::1/128")
    assert load_settings(_written(tmp_path, render_settings(settings)), environ={}) == settings


@pytest.mark.parametrize(("text", "error"), [
    ('socket = "unix:/run/x.sock"', "auth_policy.socket must be inet:PORT@HOST (Dovecot "
                                    "reaches it over HTTP)"),
    ("max_delay_seconds = 0", "auth_policy.max_delay_seconds must be a number of seconds "
                              "from 1 to 60"),
    ("max_delay_seconds = 90", "from 1 to 60"),
    ("free_failures = -1", "auth_policy.free_failures must be a number of failures from 0"),
    ("client_block_failures = true", "must be a number of failures from 1 to 10000"),
    ("block_minutes = 0", "auth_policy.block_minutes must be a number of minutes from 1"),
    ('trusted_networks = ["everyone"]', "auth_policy.trusted_networks must be networks in "
                                        "CIDR notation"),
    ("free_failures = 10\nclient_block_failures = 10",
     "auth_policy.client_block_failures must be more than auth_policy.free_failures"),
    ("free_failures = 20\nclient_block_failures = 25\naccount_block_failures = 20",
     "auth_policy.account_block_failures must be more than"),
    ("blocks = 3", "unknown setting auth_policy.blocks"),
])
def test_values_that_cannot_work_are_refused(tmp_path, text, error):
    with pytest.raises(ConfigError, match=re.escape(error)):
        load(tmp_path, text + "\n")


def _written(tmp_path, text: str):
    path = tmp_path / "rendered.toml"
    path.write_text(text)
    return path
