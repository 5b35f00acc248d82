"""A test certificate authority and a server certificate, made at run time with openssl."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mailbasic.devstack.process import run

_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Certificates:
    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def certificate(self) -> Path:
        return self.directory / "server.pem"

    @property
    def key(self) -> Path:
        return self.directory / "server.key"

    def create(self, hostname: str) -> None:
        """Make (once) a CA and a certificate for `hostname`, localhost and 127.0.0.1."""
        if self.certificate.exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        ca_key = self.directory / "ca.key"
        run(["openssl", "req", "-x509", *_EC_KEY, "-keyout", str(ca_key),
             "-out", str(self.ca), "-days", "3650", "-subj", "/CN=mailbasic local test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        request = self.directory / "server.csr"
        run(["openssl", "req", "-new", *_EC_KEY, "-keyout", str(self.key),
             "-out", str(request), "-subj", f"/CN={hostname}"])
        extensions = self.directory / "server.ext"
        extensions.write_text(f"subjectAltName=DNS:{hostname},DNS:localhost,IP:127.0.0.1\n"
                              "extendedKeyUsage=serverAuth\n")
        run(["openssl", "x509", "-req", "-in", str(request), "-CA", str(self.ca),
             "-CAkey", str(ca_key), "-CAcreateserial", "-days", "825",
             "-extfile", str(extensions), "-out", str(self.certificate)])
        self.key.chmod(0o600)
