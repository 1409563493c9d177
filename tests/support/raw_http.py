"""HTTP requests whose request target is sent byte for byte (a client library would normalise
dot segments or re-quote escapes before sending)."""

from __future__ import annotations

import asyncio


async def raw_get(port: int, target: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
    """`GET target` on 127.0.0.1:`port`; returns status, headers (lower-case names) and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET {target} HTTP/1.1", "Host: gateway", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in parsed.items()}, body
