from mailbasic import mtaconfig
from mailbasic.config import Settings

import pytest

from mailbasic.errors import ConfigError

SETTINGS = Settings(database_url="postgresql+psycopg2://mb:p%27w%5C@db.internal:6543/accounts",
                    mail_root="/srv/vmail", message_size_limit=1000)


def test_postfix_maps_connect_to_the_configured_database():
    maps = mtaconfig.postfix_maps(SETTINGS)
    assert set(maps) == {"virtual-domains.cf", "virtual-mailboxes.cf", "virtual-aliases.cf",
                         "virtual-catch-all.cf", "sender-logins.cf"}
    for content in maps.values():
        assert "hosts = inet:db.internal:6543\n" in content
        assert "dbname = accounts\n" in content
        assert "user = mb\n" in content
        assert "password = p'w\\\n" in content


def test_main_cf_uses_every_map_through_proxymap_and_the_size_limit():
    lines = mtaconfig.postfix_main_cf(SETTINGS, "/etc/postfix/mb")
    assert ("virtual_alias_maps = proxy:pgsql:/etc/postfix/mb/virtual-aliases.cf, "
            "proxy:pgsql:/etc/postfix/mb/virtual-catch-all.cf") in lines
    assert "message_size_limit = 1000\n" in lines


def test_dovecot_sql_quotes_the_password_for_libpq():
    conf = mtaconfig.dovecot_sql_conf(SETTINGS)
    assert "connect = host=db.internal port=6543 dbname=accounts user=mb password='p\\'w\\\\'" in conf
    assert "'/srv/vmail/' || m.id AS home" in conf
    assert "'*:bytes=' || m.quota_bytes AS quota_rule" in conf


def test_lookups_need_a_network_database_url():
    with pytest.raises(ConfigError, match="needs a host"):
        mtaconfig.postfix_maps(Settings(database_url="postgresql:///accounts"))
