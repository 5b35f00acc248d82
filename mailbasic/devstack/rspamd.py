"""rspamd of the stack: Debian's configuration, the rspamd role's local.d/ and override.d/.

Debian's /etc/rspamd/rspamd.conf is read as it is; $LOCAL_CONFDIR (where its local.d/
and override.d/ includes look), $DBDIR, $RUNDIR and $LOGDIR point into the stack, so
the role's templates, rendered here with the stack's port and resolver, are the only
changes. Its normal worker listens on loopback; no controller, no proxy, no Redis.
"""

from __future__ import annotations

import http.client

import yaml

from mailbasic.devstack.layout import HOST, Layout
from mailbasic.devstack.process import chown, run, start_daemon, stop_pidfile, wait_until
from mailbasic.devstack.templating import ROLES, render_role_template

USER = GROUP = "_rspamd"
DEBIAN_CONFIG = "/etc/rspamd/rspamd.conf"
LOCAL_FILES = ("options.inc", "worker-normal.inc")
OVERRIDE_FILES = ("worker-controller.inc", "worker-proxy.inc", "mime_types.conf",
                  "mid.conf", "phishing.conf")


class Rspamd:
    name = "rspamd"

    def __init__(self, layout: Layout, port: int, nameserver: str) -> None:
        """`nameserver`: host:port of the stack's DNS server."""
        self.port, self.nameserver = port, nameserver
        self.directory = layout.component(self.name)
        self.confdir = self.directory / "etc"
        self.dbdir = self.directory / "db"
        self.rundir = self.directory / "run"
        self.pidfile = self.rundir / "rspamd.pid"
        self.logfile = layout.log(self.name)
        self.logdir = layout.logs

    def variables(self) -> list[str]:
        """Debian's configuration, with the stack's directories for its variables."""
        paths = {"LOCAL_CONFDIR": self.confdir, "DBDIR": self.dbdir,
                 "RUNDIR": self.rundir, "LOGDIR": self.logdir}
        return [f"--var={name}={path}" for name, path in paths.items()]

    def command(self) -> list[str]:
        return ["rspamd", "-c", DEBIAN_CONFIG, "-u", USER, "-g", GROUP, *self.variables()]

    def launch(self) -> None:
        self.write_config()
        for path in (self.dbdir, self.rundir):
            path.mkdir(parents=True, exist_ok=True)
            chown(path, USER)
        self.logfile.touch()
        chown(self.logfile, USER)
        run(["rspamadm", *self.variables(), "configtest", "-c", DEBIAN_CONFIG])
        start_daemon(self.command(), self.logfile)   # forks; its pid file tells where

    def write_config(self) -> None:
        values = self.role_values()
        for name in LOCAL_FILES:
            render_role_template("rspamd", f"local.d/{name}.j2",
                                 self.confdir / "local.d" / name, values)
        for name in OVERRIDE_FILES:
            render_role_template("rspamd", f"override.d/{name}.j2",
                                 self.confdir / "override.d" / name, values)
        for module in disabled_modules():
            render_role_template("rspamd", "override.d/disabled.conf.j2",
                                 self.confdir / "override.d" / f"{module}.conf", values)
        for path in (self.directory, self.confdir, self.confdir / "local.d",
                     self.confdir / "override.d"):
            path.chmod(0o755)

    def role_values(self) -> dict[str, object]:
        return {"rspamd_local_confdir": str(self.confdir), "rspamd_listen": HOST,
                "rspamd_port": self.port, "rspamd_workers": 1,
                "rspamd_nameservers": [self.nameserver]}

    def wait_ready(self) -> None:
        wait_until(self._pong, what=f"rspamd on port {self.port}", timeout=60,
                   log=self.logfile)

    def _pong(self) -> bool:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=2)
        try:
            connection.request("GET", "/ping")
            response = connection.getresponse()
            return response.status == 200 and b"pong" in response.read()
        except http.client.HTTPException as error:
            raise OSError(str(error)) from error
        finally:
            connection.close()

    def stop(self) -> None:
        stop_pidfile(self.pidfile, "rspamd")


def disabled_modules() -> list[str]:
    """The modules the rspamd role turns off (its defaults): the stack turns off the same."""
    defaults = yaml.safe_load((ROLES / "rspamd" / "defaults" / "main.yml").read_text())
    return list(defaults["rspamd_disabled_modules"])
