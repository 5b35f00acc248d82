from dataclasses import replace

import pytest

from mailbasic import mtaconfig
from mailbasic.config import Settings
from mailbasic.errors import ConfigError
from mailbasic.mtaconfig import DatabaseAccess
from mailbasic.schema.privileges import ComponentRole

SETTINGS = Settings(database_url="postgresql+psycopg2://admin:adminpw@db.internal:6543/accounts",
                    mail_root="/srv/vmail", message_size_limit=1000)
POSTFIX = DatabaseAccess.for_component(SETTINGS, ComponentRole.POSTFIX, "p'w\\")
DOVECOT = DatabaseAccess.for_component(SETTINGS, ComponentRole.DOVECOT, "p'w\\")


def test_postfix_maps_connect_as_postfix_s_own_role():
    maps = mtaconfig.postfix_maps(SETTINGS, POSTFIX)
    assert set(maps) == {"virtual-domains.cf", "virtual-mailboxes.cf", "virtual-aliases.cf",
                         "virtual-catch-all.cf", "sender-logins.cf"}
    for content in maps.values():
        assert "hosts = inet:db.internal:6543\n" in content
        assert "dbname = accounts\n" in content
        assert "user = mailbasic_postfix\n" in content
        assert "password = p'w\\\n" in content
        assert "admin" not in content  # never the admin's role or password
        assert " FROM postfix_" in content  # the views, never the tables


def test_main_cf_uses_every_map_through_proxymap_and_the_size_limit():
    lines = mtaconfig.postfix_main_cf(SETTINGS, "/etc/postfix/mb")
    assert ("virtual_alias_maps = proxy:pgsql:/etc/postfix/mb/virtual-aliases.cf, "
            "proxy:pgsql:/etc/postfix/mb/virtual-catch-all.cf") in lines
    assert "message_size_limit = 1000\n" in lines


def test_role_addresses_come_first_and_name_the_role_mailbox():
    settings = replace(SETTINGS, role_mailbox="desk@example.net",
                       role_local_parts=("postmaster", "abuse"))
    maps = mtaconfig.postfix_maps(settings, POSTFIX)
    assert ("query = SELECT 'desk@example.net' WHERE lower('%u') IN ('postmaster', 'abuse')"
            " AND ('%d' IN ('mail.example.net') OR EXISTS (SELECT 1 FROM postfix_domains"
            " WHERE name = '%d'))\n") in maps["role-addresses.cf"]
    lines = mtaconfig.postfix_main_cf(settings, "/m")
    assert "virtual_alias_maps = proxy:pgsql:/m/role-addresses.cf, " in lines


def test_dovecot_sql_quotes_the_password_for_libpq_and_reads_its_view():
    conf = mtaconfig.dovecot_sql_conf(SETTINGS, DOVECOT)
    assert ("connect = host=db.internal port=6543 dbname=accounts user=mailbasic_dovecot"
            " password='p\\'w\\\\'") in conf
    assert "'/srv/vmail/' || mailbox_id AS home" in conf
    assert "'*:bytes=' || quota_bytes AS quota_rule FROM dovecot_users" in conf
    assert "adminpw" not in conf + mtaconfig.dovecot_dict_conf(DOVECOT)


def test_without_a_password_the_files_name_none():
    access = DatabaseAccess.for_component(SETTINGS, ComponentRole.POSTFIX, None)
    assert "password" not in mtaconfig.postfix_maps(SETTINGS, access)["virtual-domains.cf"]


def test_lookups_need_a_network_database_url():
    with pytest.raises(ConfigError, match="needs a host"):
        DatabaseAccess.for_component(Settings(database_url="postgresql:///accounts"),
                                     ComponentRole.POSTFIX, None)
    with pytest.raises(ConfigError, match="no database URL"):
        DatabaseAccess.for_component(Settings(), ComponentRole.POSTFIX, None)
