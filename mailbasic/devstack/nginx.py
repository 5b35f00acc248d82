"""nginx of the stack: HTTPS on loopback in front of the customer portal's unix socket.

Its configuration is the Ansible nginx role's templates (nginx.conf and the portal's
site), rendered with the stack's values: an instance of its own (`nginx -c`), started as
root like Debian's, its workers as www-data, which reach the portal's socket through the
socket directory's group (ServiceDaemon's group) and nothing else of the stack.
"""

from __future__ import annotations

import os
import shutil
import stat
from functools import partial
from pathlib import Path

from mailbasic.devstack.layout import HOST, Layout
from mailbasic.devstack.process import (
    StackError,
    accepts_connections,
    run,
    start_daemon,
    stop_pidfile,
    wait_until,
)
from mailbasic.devstack.templating import ROLES, render_role_template
from mailbasic.devstack.tls import Certificates

# Debian's nginx package runs its workers as www-data, and so does the stack; the
# portal's socket directory belongs to its group.
WORKER_USER = WORKER_GROUP = "www-data"
SITE = "mailbasic-portal.conf"


class Nginx:
    name = "nginx"

    def __init__(self, layout: Layout, port: int, certificates: Certificates,
                 portal_socket: Path, static: Path, hostname: str, sogo: str) -> None:
        """`static`: the portal's static files (mailbasic/portal/static of the package);
        `sogo`: the webmail's host:port."""
        self.layout, self.port, self.certificates = layout, port, certificates
        self.sogo = sogo
        self.portal_socket, self.static, self.hostname = portal_socket, static, hostname
        self.directory = layout.component(self.name)
        self.config = self.directory / "nginx.conf"
        self.pidfile = self.directory / "nginx.pid"
        self.logfile = layout.log(self.name)
        self.access_log = layout.log("nginx-access")

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    def launch(self) -> None:
        self._write_config()
        command = [_binary(), "-c", str(self.config), "-e", str(self.logfile)]
        run([*command, "-t", "-q"])
        start_daemon(command, self.logfile)   # forks; its pid file tells where it runs

    def wait_ready(self) -> None:
        wait_until(partial(accepts_connections, self.port), what=f"nginx on port {self.port}",
                   timeout=30, log=self.logfile)

    def stop(self) -> None:
        stop_pidfile(self.pidfile, "nginx")

    def _write_config(self) -> None:
        site_directory = self.directory / "conf.d"
        site_directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "temp").mkdir(exist_ok=True)
        # The role installs the yardstick page at nginx_yardstick_dir; so does the stack.
        yardstick = self.directory / "www"
        yardstick.mkdir(exist_ok=True)
        shutil.copyfile(ROLES / "nginx" / "files" / "yardstick.html",
                        yardstick / "yardstick.html")
        for path in (self.directory, site_directory, yardstick, yardstick / "yardstick.html"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        values = self._role_values(yardstick)
        render_role_template("nginx", "nginx.conf.j2", self.config, values)
        render_role_template("nginx", f"{SITE}.j2", site_directory / SITE, values)

    def _role_values(self, yardstick: Path) -> dict[str, object]:
        """The nginx role's variables where the stack differs from a host: its own files
        and port on loopback, the stack's certificate; TLS, headers and proxying are the
        role's own."""
        return {
            "nginx_user": WORKER_USER,
            "nginx_worker_processes": 2,
            "nginx_config_dir": str(self.directory),
            "nginx_pid_file": str(self.pidfile),
            "nginx_error_log": str(self.logfile),
            "nginx_access_log": str(self.access_log),
            "nginx_temp_dir": str(self.directory / "temp"),
            "nginx_hostname": self.hostname,
            "nginx_listen_addresses": HOST,
            "nginx_https_port": self.port,
            "nginx_http_port": 0,
            "nginx_tls_certificate": str(self.certificates.certificate),
            "nginx_tls_key": str(self.certificates.key),
            "nginx_dhparam": str(ROLES / "nginx" / "files" / "ffdhe2048.pem"),
            "nginx_portal_socket": str(self.portal_socket),
            "nginx_portal_static_dir": str(self._static_for_workers()),
            "nginx_yardstick_dir": str(yardstick),
            "nginx_sogo_upstream": self.sogo,
        }

    def _static_for_workers(self) -> Path:
        """The package's static files if www-data can read them where they are (an
        installation, a checkout others may read); else a copy in the stack."""
        if _world_readable(self.static):
            return self.static
        copy = self.directory / "static"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(self.static, copy)
        for path in (copy, *copy.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
        return copy


def _binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        raise StackError("nginx not found: install Debian's nginx (make run does)")
    return found


def _world_readable(directory: Path) -> bool:
    """Whether anybody may read the files under `directory`: every directory on the way
    there searchable by others, every one below it listable, every file readable."""
    if not directory.is_dir():
        raise StackError(f"the portal's static files are not at {directory}")
    if any(not os.stat(parent).st_mode & stat.S_IXOTH for parent in directory.parents):
        return False
    for path in (directory, *directory.rglob("*")):
        mode = os.stat(path).st_mode
        needed = stat.S_IROTH | stat.S_IXOTH if stat.S_ISDIR(mode) else stat.S_IROTH
        if mode & needed != needed:
            return False
    return True
