"""A PostgreSQL cluster of the stack's own, on loopback, run as the `postgres` user."""

from __future__ import annotations

import glob
from urllib.parse import quote

import psycopg2
from psycopg2 import sql

from mailbasic.devstack.layout import HOST, Layout
from mailbasic.devstack.process import StackError, as_user, chown, run, start_daemon, wait_until
from mailbasic.schema.privileges import ADMIN_MEMBER_OF

USER = "postgres"
DATABASE = "mailbasic"
ROLE = "mailbasic"


def _binary(name: str) -> str:
    """The newest installed server version's binary (Debian keeps them out of PATH)."""
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda path: int(path.split("/")[4]))
    if not candidates:
        raise StackError(f"PostgreSQL's {name} not found: install Debian's postgresql")
    return candidates[-1]


class Postgres:
    name = "postgres"

    def __init__(self, layout: Layout, port: int, password: str,
                 component_passwords: dict[str, str]) -> None:
        """`password` is the admin role's (owner of the schema), `component_passwords`
        those of the Postfix, Dovecot, daemon and portal roles (every ComponentRole of
        mailbasic.schema.privileges), each created with LOGIN and its password."""
        self.port = port
        self.password = password
        self.component_passwords = component_passwords
        self.directory = layout.component(self.name)
        self.data = self.directory / "data"
        self.sockets = self.directory / "run"
        self.logfile = layout.log(self.name)

    def url(self, database: str = DATABASE, role: str = ROLE) -> str:
        password = self.password if role == ROLE else self.component_passwords[role]
        return (f"postgresql+psycopg2://{role}:{quote(password, safe='')}"
                f"@{HOST}:{self.port}/{database}")

    def launch(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        self.sockets.mkdir(exist_ok=True)
        chown(self.sockets, USER)
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses={HOST} -c fsync=on"
        start_daemon([_binary("pg_ctl"), "-D", str(self.data), "-l", str(self.logfile),
                      "-o", options, "-W", "start"], self.logfile, user=USER)

    def wait_ready(self) -> None:
        wait_until(self._accepts_connections, what="PostgreSQL", timeout=60, log=self.logfile)
        self._ensure_role_and_database()

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            run(as_user(USER, [_binary("pg_ctl"), "-D", str(self.data), "-m", "fast",
                               "-w", "-t", "60", "stop"]))

    def _initdb(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        chown(self.directory, USER)
        self.logfile.touch()
        chown(self.logfile, USER)
        run(as_user(USER, [_binary("initdb"), "-D", str(self.data), "-U", USER, "-E", "UTF8",
                           "--no-locale", "--auth-local=trust",
                           "--auth-host=scram-sha-256"]))

    def _superuser(self, database: str = "postgres") -> psycopg2.extensions.connection:
        return psycopg2.connect(host=str(self.sockets), port=self.port, user=USER,
                                dbname=database, connect_timeout=2)

    def _accepts_connections(self) -> bool:
        try:
            self._superuser().close()
        except psycopg2.OperationalError as error:
            raise StackError(str(error).strip()) from None
        return True

    def _ensure_role_and_database(self) -> None:
        connection = self._superuser()
        connection.autocommit = True
        with connection, connection.cursor() as cursor:
            self._ensure_role(cursor, ROLE, self.password, "CREATEDB")
            for role, password in self.component_passwords.items():
                self._ensure_role(cursor, role, password)
            for member_of in ADMIN_MEMBER_OF:
                cursor.execute(sql.SQL("GRANT {} TO {}").format(
                    sql.Identifier(member_of.value), sql.Identifier(ROLE)))
        connection.close()
        self.create_database(DATABASE)

    @staticmethod
    def _ensure_role(cursor: psycopg2.extensions.cursor, role: str, password: str,
                     attributes: str = "") -> None:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        verb = "ALTER" if cursor.fetchone() else "CREATE"
        cursor.execute(sql.SQL(f"{verb} ROLE {{}} LOGIN {attributes} PASSWORD %s").format(
            sql.Identifier(role)), (password,))

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create an empty database (or a copy of `template`) owned by the stack's role."""
        connection = self._superuser()
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cursor.fetchone() is None:
                    statement = sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(name), sql.Identifier(ROLE))
                    if template:
                        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
                    cursor.execute(statement)
        finally:
            connection.close()
        return self.url(name)

    def drop_database(self, name: str) -> None:
        connection = self._superuser()
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))
        finally:
            connection.close()
