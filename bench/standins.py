"""Instant stand-ins for spamd and clamd, for the benchmark's variants B and R_B: they read
each request whole and answer at once "not spam" / "clean", so what is measured is the
milter in front of them. Their own CPU is not the product's cost, so they are one asyncio
loop (no thread or process per connection) and read in large blocks.

spamd: CHECK, SYMBOLS, REPORT (the Spam: header only) and PROCESS (the message back, as
spamc under spamass-milter asks). clamd: the z (NUL-terminated) and n (newline) forms of
IDSESSION, END, PING, VERSION and INSTREAM, as mailbasic's client and clamav-milter send.
Run as a separate process: python bench/standins.py SPAMD_PORT CLAMD_PORT"""

import asyncio
import struct
import sys

HOST = "127.0.0.1"
NOT_SPAM = b"Spam: False ; 0.0 / 5.0\r\n"


async def spamd(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        request, *headers = head.decode("latin-1").split("\r\n")
        length = next((int(line.split(":", 1)[1]) for line in headers
                       if line.lower().startswith("content-length:")), None)
        body = (await reader.readexactly(length) if length is not None
                else await reader.read())
        if request.startswith("PROCESS"):
            writer.write(b"SPAMD/1.1 0 EX_OK\r\n" + NOT_SPAM
                         + b"Content-length: %d\r\n\r\n" % len(body) + body)
        else:
            writer.write(b"SPAMD/1.1 0 EX_OK\r\n" + NOT_SPAM + b"\r\n")
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def clamd(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    in_session, requests = False, 0
    try:
        while True:
            kind = await reader.readexactly(1)
            end = b"\0" if kind == b"z" else b"\n"
            command = (await reader.readuntil(end))[:-1]
            if command == b"IDSESSION":
                in_session = True
                continue
            if command == b"END":
                break
            requests += 1
            if command == b"INSTREAM":
                while size := struct.unpack(">I", await reader.readexactly(4))[0]:
                    await reader.readexactly(size)
                answer = b"stream: OK"
            elif command == b"PING":
                answer = b"PONG"
            else:
                answer = b"ClamAV 1.0.0/stand-in"
            writer.write((b"%d: " % requests if in_session else b"") + answer + end)
            await writer.drain()
            if not in_session:
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(spamd_port: int, clamd_port: int) -> None:
    # A backlog of 256: the default drops SYNs under load (1 s retransmits).
    servers = [await asyncio.start_server(spamd, HOST, spamd_port, backlog=256),
               await asyncio.start_server(clamd, HOST, clamd_port, backlog=256)]
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
