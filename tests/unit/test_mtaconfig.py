from dataclasses import replace

import pytest

from mailbasic import mtaconfig
from mailbasic.config import Settings
from mailbasic.errors import ConfigError
from mailbasic.mtaconfig import DatabaseAccess
from mailbasic.schema.privileges import ComponentRole

SETTINGS = Settings(database_url="postgresql+psycopg2://admin:adminpw@db.internal:6543/accounts",
                    mail_root="/srv/vmail", message_size_limit=1000)
DOVECOT = DatabaseAccess.for_component(SETTINGS, ComponentRole.DOVECOT, "p'w\\")


def test_main_cf_asks_the_lookup_daemon_and_sets_the_size_limit():
    lines = mtaconfig.postfix_main_cf(replace(SETTINGS, lookup_socket="unix:/run/l.sock"))
    assert "virtual_mailbox_domains = socketmap:unix:/run/l.sock:domain\n" in lines
    assert "virtual_alias_maps = socketmap:unix:/run/l.sock:alias\n" in lines
    assert "smtpd_sender_login_maps = socketmap:unix:/run/l.sock:sender\n" in lines
    assert "message_size_limit = 1000\n" in lines
    assert "pgsql" not in lines and "adminpw" not in lines


def test_dovecot_sql_quotes_the_password_for_libpq_and_reads_its_view():
    conf = mtaconfig.dovecot_sql_conf(SETTINGS, DOVECOT)
    assert ("connect = host=db.internal port=6543 dbname=accounts user=mailbasic_dovecot"
            " password='p\\'w\\\\'") in conf
    assert "'/srv/vmail/' || mailbox_id AS home" in conf
    assert "'*:bytes=' || quota_bytes AS quota_rule FROM dovecot_users" in conf
    assert "adminpw" not in conf + mtaconfig.dovecot_dict_conf(DOVECOT)


def test_without_a_password_the_files_name_none():
    access = DatabaseAccess.for_component(SETTINGS, ComponentRole.DOVECOT, None)
    assert " password=" not in mtaconfig.dovecot_sql_conf(SETTINGS, access)


def test_lookups_need_a_network_database_url():
    with pytest.raises(ConfigError, match="needs a host"):
        DatabaseAccess.for_component(Settings(database_url="postgresql:///accounts"),
                                     ComponentRole.DOVECOT, None)
    with pytest.raises(ConfigError, match="no database URL"):
        DatabaseAccess.for_component(Settings(), ComponentRole.DOVECOT, None)
