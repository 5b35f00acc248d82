import pytest

from mailbasic.config import (
    GIB,
    MAX_SIZE,
    MIB,
    RESERVED_LOCAL_PARTS,
    Settings,
    load_settings,
    parse_size,
    render_settings,
    require_database_url,
    service_host_names,
)
from mailbasic.errors import ConfigError

URL = "postgresql+psycopg2://mailbasic:pw@127.0.0.1:5432/mailbasic"
DATABASE = f'[database]\nurl = "{URL}"\n'


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


@pytest.mark.parametrize("text", ["1024T", "1125899906842624", 2**50, "001024T"])
def test_sizes_up_to_the_ceiling_of_one_pebibyte(text):
    assert parse_size(text) == MAX_SIZE == 2**50


@pytest.mark.parametrize("text", [
    "1025T", "1125899906842625", 2**50 + 1, "99999999999999999999", 2**63,
    "9" * 5000,  # more digits than Python converts: still the same clear refusal
])
def test_sizes_above_the_ceiling_are_refused(text):
    with pytest.raises(ValueError, match=r"at most 1 PiB \(1125899906842624 bytes\)"):
        parse_size(text)


@pytest.mark.parametrize("key", ['[service]\nmessage_size_limit', '[mailbox]\ndefault_quota'])
@pytest.mark.parametrize("size", ['"2000T"', '"99999999999999999999"', "9223372036854775807"])
def test_config_sizes_have_the_same_ceiling(tmp_path, key, size):
    with pytest.raises(ConfigError, match="at most 1 PiB"):
        load_settings(write(tmp_path, f"{DATABASE}{key} = {size}\n"), environ={})


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


@pytest.mark.parametrize("given", [
    "postgresql://mailbasic:pw@127.0.0.1:5432/mailbasic",   # PostgreSQL's documented form
    "postgres://mailbasic:pw@127.0.0.1:5432/mailbasic",
    "PostgreSQL://mailbasic:pw@127.0.0.1:5432/mailbasic",   # schemes ignore case
    URL,
])
def test_database_urls_are_pinned_to_psycopg2(tmp_path, given):
    path = write(tmp_path, f'[database]\nurl = "{given}"\n')
    assert load_settings(path, environ={}).database_url == URL
    from_environment = {"MAILBASIC_DATABASE_URL": given}
    assert load_settings(environ=from_environment).database_url == URL


def test_a_psycopg2_url_is_kept_exactly(tmp_path):
    url = "postgresql+psycopg2://mb:p%27w%5C@[::1]:6543/accounts?sslmode=require"
    assert load_settings(environ={"MAILBASIC_DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize("url, message", [
    ("mysql://mailbasic:s3cret@db/mailbasic", "got 'mysql://'"),
    ("sqlite:///var/lib/mailbasic.db", "got 'sqlite://'"),
    ("postgresql+asyncpg://mailbasic:s3cret@db/mailbasic", "got 'postgresql\\+asyncpg://'"),
    ("postgresql+psycopg://mailbasic:s3cret@db/mailbasic", "got 'postgresql\\+psycopg://'"),
    ("mailbasic:s3cret@db/mailbasic", "got no scheme"),
    ("garbage", "got no scheme"),
    ("mailbasic:s3cret@db/x://y", "got no scheme"),
    ("postgresql://mailbasic:s3cret@db:port/mailbasic", "cannot be parsed"),
    ("postgresql://mailbasic:s3cret@[::1/mailbasic", "cannot be parsed"),
    ("postgresql://mailbasic:s3cret@db:99999/mailbasic", "from 1 to 65535"),
])
def test_other_database_urls_are_one_clear_error(tmp_path, url, message):
    with pytest.raises(ConfigError, match=message) as raised:
        load_settings(write(tmp_path, f'[database]\nurl = "{url}"\n'), environ={})
    text = str(raised.value)
    assert "database.url" in text and len(text.splitlines()) == 1
    assert "s3cret" not in text  # the password never reaches a terminal or a log
    if "scheme" in message or "got '" in message:
        assert "postgresql://USER:PASSWORD@HOST:PORT/DATABASE (or postgres://, " \
               "postgresql+psycopg2://)" in text


def test_a_bad_database_url_from_the_environment_says_so():
    with pytest.raises(ConfigError, match=r"^MAILBASIC_DATABASE_URL: database\.url must be"):
        load_settings(environ={"MAILBASIC_DATABASE_URL": "mysql://db/mailbasic"})


def test_reserved_local_parts_and_host_names_default_and_load(tmp_path):
    default = load_settings(write(tmp_path, DATABASE), environ={})
    assert {"postmaster", "abuse", "hostmaster", "webmaster", "mailer-daemon",
            "no-reply"} <= set(default.reserved_local_parts)
    assert service_host_names(default) == ("mail.example.net",)
    assert service_host_names(Settings(database_url=URL, service_domain="isp.example")) == \
        ("mail.isp.example",)
    path = write(tmp_path, DATABASE + '[service]\nreserved_local_parts = ["sales.team"]\n'
                                      'host_names = ["MX1.isp.example", "imap.isp.example"]\n')
    settings = load_settings(path, environ={})
    assert settings.reserved_local_parts == ("sales.team",)
    assert service_host_names(settings) == ("mx1.isp.example", "imap.isp.example")
    path = write(tmp_path, DATABASE + "[service]\nreserved_local_parts = []\n")
    assert load_settings(path, environ={}).reserved_local_parts == ()
    assert RESERVED_LOCAL_PARTS == Settings(database_url=URL).reserved_local_parts


@pytest.mark.parametrize("text, message", [
    ('reserved_local_parts = ["Abuse"]', "lowercase.*got 'Abuse'"),
    ('reserved_local_parts = ["9lives"]', "got '9lives'"),
    ('reserved_local_parts = ["a@b"]', "got 'a@b'"),
    ('reserved_local_parts = "abuse"', "must be a list"),
    ('reserved_local_parts = [1]', "got 1"),
    ('host_names = []', "non-empty list of domain names"),
    ('host_names = "mail.example.net"', "non-empty list of domain names"),
    ('host_names = ["not a host"]', "not a domain name"),
])
def test_bad_reserved_local_parts_and_host_names(tmp_path, text, message):
    with pytest.raises(ConfigError, match=f"service\\.[a-z_]+ .*{message}"):
        load_settings(write(tmp_path, f"{DATABASE}[service]\n{text}\n"), environ={})


@pytest.mark.parametrize("text, message", [
    (DATABASE + '[service]\ndomian = "x.net"\n', "unknown setting service.domian"),
    ("[database\n", "not valid TOML"),
    (DATABASE + '[service]\ndomain = "not a domain"\n', "not a domain name"),
    (DATABASE + '[mailbox]\ndefault_quota = "lots"\n', "not a size"),
    (DATABASE + '[service]\nmail_root = "relative/path"\n', "absolute path"),
    (DATABASE + "[service]\nmail_root = \"/var/x';--\"\n", "absolute path"),
    (DATABASE + '[passwords]\nbcrypt_cost = 99\n', "4 to 31"),
    ('database = 5\n', "must be a table"),
    (DATABASE + '[policy]\nchecks = ["size", "nonsense"]\n', "list of checks"),
    (DATABASE + '[policy]\nchecks = ["size", "size"]\n', "twice"),
    (DATABASE + '[policy]\nquota_refusal = "maybe"\n', "permanent"),
    (DATABASE + '[policy]\nsocket = "10040"\n', "inet:PORT@HOST"),
    (DATABASE + '[policy]\ninactive_text = "two\\nlines"\n', "one line"),
    (DATABASE + '[spamd]\ntimeout = 500\n', "at most 120"),
    (DATABASE + '[clamd]\nunscannable = "allow"\n', "tempfail"),
    (DATABASE + '[milter]\nsocket = "/tmp/x"\n', "unix:/PATH"),
    (DATABASE + '[sms]\ngateway_url = "ftp://sms.example"\n', "http:// or https://"),
    (DATABASE + '[sms]\nbody_template = "to=$to"\n', "must contain \\$to"),
    (DATABASE + '[sms]\ncontent_type = "text/xml"\n', "application/json"),
    (DATABASE + '[sms]\nusername = "u"\n', "go together"),
    (DATABASE + '[sms]\nper_hour = 0\n', "1 to 1000"),
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
                        sms_username="u", sms_password='p"w',
                        host_names=("mx.example.org",), reserved_local_parts=("abuse",))
    path = write(tmp_path, render_settings(settings))
    assert load_settings(path, environ={}) == settings


def test_no_reserved_local_parts_renders_and_loads_back(tmp_path):
    settings = Settings(database_url=URL, reserved_local_parts=())
    path = write(tmp_path, render_settings(settings))
    assert load_settings(path, environ={}) == settings


def test_a_component_without_a_database_has_no_url_until_one_is_needed(tmp_path):
    """The SRS table's configuration holds no credentials: it loads, and whatever needs
    the database refuses with one clear line."""
    settings = load_settings(write(tmp_path, '[service]\ndomain = "example.net"\n'),
                             environ={})
    assert settings.database_url is None
    with pytest.raises(ConfigError, match="no database URL"):
        require_database_url(settings)


def test_role_addresses_and_srs_clients(tmp_path):
    settings = load_settings(write(tmp_path, DATABASE + (
        '[service]\nrole_mailbox = "Hostmaster-Desk@Example.NET"\n'
        'role_addresses = ["postmaster", "abuse", "hostmaster"]\n'
        '[forwarding]\nsrs_clients = ["192.0.2.7/24", "2001:db8::/48"]\n')), environ={})
    assert settings.role_mailbox == "hostmaster-desk@example.net"
    assert settings.role_local_parts == ("postmaster", "abuse", "hostmaster")
    assert settings.srs_clients == ("192.0.2.0/24", "2001:db8::/48")
    assert load_settings(write(tmp_path, render_settings(settings)), environ={}) == settings


@pytest.mark.parametrize("text, message", [
    ('[service]\nrole_mailbox = "x\' OR 1=1@example.net"\n', "address of a mailbox"),
    ('[service]\nrole_mailbox = "nobody"\n', "address of a mailbox"),
    ('[service]\nrole_addresses = []\n', "at least one"),
    ('[forwarding]\nsrs_clients = ["not a network"]\n', "CIDR"),
    ('[forwarding]\nsrs_clients = "192.0.2.0/24"\n', "list of networks"),
])
def test_bad_role_and_srs_settings(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, DATABASE + text), environ={})
