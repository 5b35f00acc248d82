"""Instant stand-ins for spamd and clamd, for the benchmark's variant B: they read each
request whole and answer at once "not spam" / "clean", so what is measured is the milter
itself. Run as a separate process: python bench/standins.py SPAMD_PORT CLAMD_PORT"""

import socketserver
import struct
import sys
import threading


class Spamd(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(body) < length:
            body += self.request.recv(65536)
        self.request.sendall(b"SPAMD/1.1 0 EX_OK\r\nSpam: False ; 0.0 / 5.0\r\n\r\n")


class Clamd(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        stream = self.request.makefile("rb")
        requests = 0
        while True:
            command = b""
            while not command.endswith(b"\0"):
                byte = stream.read(1)
                if not byte:
                    return
                command += byte
            if command == b"zIDSESSION\0":
                continue
            if command == b"zEND\0":
                return
            requests += 1
            while (size := struct.unpack(">I", stream.read(4))[0]):
                stream.read(size)
            self.request.sendall(b"%d: stream: OK\0" % requests)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the default 5 drops SYNs under load: 1 s retransmits


if __name__ == "__main__":
    spamd = Server(("127.0.0.1", int(sys.argv[1])), Spamd)
    clamd = Server(("127.0.0.1", int(sys.argv[2])), Clamd)
    threading.Thread(target=spamd.serve_forever, daemon=True).start()
    clamd.serve_forever()
