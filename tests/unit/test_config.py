import pytest

from mailbasic.config import GIB, MIB, Settings, load_settings, parse_size, render_settings
from mailbasic.errors import ConfigError

URL = "postgresql+psycopg2://mailbasic:pw@127.0.0.1:5432/mailbasic"


def write(tmp_path, text):
    path = tmp_path / "mailbasic.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, expected", [
    ("1G", GIB), ("20M", 20 * MIB), ("512 KiB", 512 * 1024), ("20971520", 20971520),
    ("2gb", 2 * GIB), (4096, 4096),
])
def test_sizes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "1X", "-5M", "0", "M", "1.5G", 0, -1])
def test_bad_sizes(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_file_and_defaults(tmp_path):
    path = write(tmp_path, f'[database]\nurl = "{URL}"\n[mailbox]\ndefault_quota = "2G"\n')
    settings = load_settings(path, environ={})
    assert settings == Settings(database_url=URL, default_quota_bytes=2 * GIB)
    assert settings.message_size_limit == 20 * MIB
    assert settings.service_domain == "example.net"


def test_environment_overrides_database_url(tmp_path):
    path = write(tmp_path, f'[database]\nurl = "{URL}"\n')
    other = URL.replace("5432", "6543")
    assert load_settings(path, environ={"MAILBASIC_DATABASE_URL": other}).database_url == other


def test_config_from_environment_variable(tmp_path):
    path = write(tmp_path, f'[database]\nurl = "{URL}"\n')
    assert load_settings(environ={"MAILBASIC_CONFIG": str(path)}).database_url == URL


def test_settings_are_immutable():
    settings = Settings(database_url=URL)
    with pytest.raises(AttributeError):
        settings.database_url = "other"  # type: ignore[misc]


@pytest.mark.parametrize("text, message", [
    ('[database]\nurl = "x"\n[service]\ndomian = "x.net"\n', "unknown setting service.domian"),
    ("[database\n", "not valid TOML"),
    ('[service]\ndomain = "example.net"\n', "no database URL"),
    ('[database]\nurl = "x"\n[service]\ndomain = "not a domain"\n', "not a domain name"),
    ('[database]\nurl = "x"\n[mailbox]\ndefault_quota = "lots"\n', "not a size"),
    ('[database]\nurl = "x"\n[service]\nmail_root = "relative/path"\n', "absolute path"),
    ("[database]\nurl = \"x\"\n[service]\nmail_root = \"/var/x';--\"\n", "absolute path"),
    ('[database]\nurl = "x"\n[passwords]\nbcrypt_cost = 99\n', "4 to 31"),
    ('database = 5\n', "must be a table"),
    ('[database]\nurl = "x"\n[policy]\nchecks = ["size", "nonsense"]\n', "list of checks"),
    ('[database]\nurl = "x"\n[policy]\nchecks = ["size", "size"]\n', "twice"),
    ('[database]\nurl = "x"\n[policy]\nquota_refusal = "maybe"\n', "permanent"),
    ('[database]\nurl = "x"\n[policy]\nsocket = "10040"\n', "inet:PORT@HOST"),
    ('[database]\nurl = "x"\n[policy]\ninactive_text = "two\\nlines"\n', "one line"),
    ('[database]\nurl = "x"\n[spamd]\ntimeout = 500\n', "at most 120"),
    ('[database]\nurl = "x"\n[clamd]\nunscannable = "allow"\n', "tempfail"),
    ('[database]\nurl = "x"\n[milter]\nsocket = "/tmp/x"\n', "unix:/PATH"),
    ('[database]\nurl = "x"\n[sms]\ngateway_url = "ftp://sms.example"\n', "http:// or https://"),
    ('[database]\nurl = "x"\n[sms]\nbody_template = "to=$to"\n', "must contain \\$to"),
    ('[database]\nurl = "x"\n[sms]\ncontent_type = "text/xml"\n', "application/json"),
    ('[database]\nurl = "x"\n[sms]\nusername = "u"\n', "go together"),
    ('[database]\nurl = "x"\n[sms]\nper_hour = 0\n', "1 to 1000"),
])
def test_bad_config_is_one_clear_error(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text), environ={})


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_rendered_settings_load_back(tmp_path):
    settings = Settings(database_url=URL + '?x="q"', service_domain="example.org",
                        mail_root="/srv/mail", default_quota_bytes=3 * GIB, bcrypt_cost=5,
                        policy_checks=("quota", "recipient"), spamd_fail_open=True,
                        milter_socket="unix:/run/mailbasic/milter.sock",
                        sms_gateway_url="https://sms.example/api?key=1",
                        sms_body_template='{"to": "$to", "text": "$text", "x": "\\u00fc"}',
                        sms_username="u", sms_password='p"w')
    path = write(tmp_path, render_settings(settings))
    assert load_settings(path, environ={}) == settings
