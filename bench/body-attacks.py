#!/usr/bin/env python3
"""The request-body attacks of issue 20 against `pullthrough serve` on 127.0.0.1, over TLS and
HTTP/1.1, one connection per client thread. Prints one JSON line per attack.

  body-attacks.py PORT big [CLIENTS] [SECONDS]   CLIENTS (16) threads each posting a valid
                                                 ~7 MiB AdmissionReview, again and again, for
                                                 SECONDS (20): the statuses, and the Retry-After
                                                 of every 429
  body-attacks.py PORT stalled [CLIENTS] [MIB]   CLIENTS (20) connections that each send a
                                                 MIB (6) MiB body of a body declared 100 bytes
                                                 longer, then stop: the statuses and how long
                                                 each took to come
  body-attacks.py PORT trickle                   one byte of a 100-byte body, then nothing: the
                                                 status and when the connection was closed

The server's memory is read by the caller (bench/serve-memory --attacks) while this runs.
"""

import json
import socket
import ssl
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Just under the 7,340,032-byte limit, so every review is read, parsed and evaluated.
BIG_BYTES = 7_000_000


def connect(port):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=60)
    return context.wrap_socket(raw, server_hostname="localhost")


def head(path, length):
    return (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def read_answer(sock):
    """The status and headers of one HTTP/1.1 answer, its body read and dropped; None when the
    connection ended first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    header, _, body = data.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers


def big_review():
    review = json.loads((REPO / "fixtures/admission/deployment.json").read_text())
    container = review["request"]["object"]["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "nginx:1.27"
    container["env"] = [{"name": "PAD", "value": ""}]
    size = len(json.dumps(review).encode())
    container["env"][0]["value"] = "a" * (BIG_BYTES - size)
    body = json.dumps(review).encode()
    assert len(body) == BIG_BYTES, len(body)
    return body


def big(port, clients=16, seconds=20):
    body = big_review()
    until = time.monotonic() + seconds
    statuses, retry_after, errors = {}, set(), []
    lock = threading.Lock()

    def client():
        sock = None
        while time.monotonic() < until:
            try:
                sock = sock or connect(port)
                sock.sendall(head("/mutate", len(body)) + body)
                answer = read_answer(sock)
            except OSError as error:
                answer = None
                with lock:
                    errors.append(str(error))
            if answer is None:
                sock = None
                continue
            status, headers = answer
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 429:
                    retry_after.add(headers.get("retry-after"))
            # An answer given before the body was read ends the connection (hyper does not
            # say so with Connection: close when it answers early).
            if headers.get("connection") == "close" or status != 200:
                sock = None

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"attack": "big", "clients": clients, "body_bytes": len(body), "seconds": seconds,
            "statuses": statuses, "retry_after": sorted(r or "" for r in retry_after),
            "errors": len(errors), "error_kinds": sorted(set(errors))}


def stalled(port, clients=20, mib=6):
    sent = mib * 1024 * 1024
    results = []
    lock = threading.Lock()

    def client():
        started = time.monotonic()
        try:
            sock = connect(port)
            sock.sendall(head("/mutate", sent + 100))
            # Sent in pieces: an answer may come (and the connection close) while it is sent.
            piece = b" " * 65536
            for _ in range(sent // len(piece)):
                sock.sendall(piece)
            answer = read_answer(sock)
        except OSError as error:
            answer = ("error", str(error))
        with lock:
            results.append((answer[0] if answer else None, round(time.monotonic() - started, 1)))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {"attack": "stalled", "clients": clients, "sent_bytes": sent, "statuses": statuses,
            "seconds_to_answer": sorted(s for _, s in results)}


def trickle(port):
    started = time.monotonic()
    sock = connect(port)
    sock.sendall(head("/mutate", 100) + b"{")
    try:
        answer = read_answer(sock)
        # The connection must be closed after the answer, not kept for the 99 bytes.
        closed = sock.recv(1) == b""
    except OSError:
        # No answer within the socket's 60 s timeout.
        answer, closed = None, False
    return {"attack": "trickle", "status": answer[0] if answer else None,
            "seconds": round(time.monotonic() - started, 1), "closed": closed}


def main():
    port, attack, *rest = sys.argv[1:]
    port = int(port)
    numbers = [int(x) for x in rest]
    result = {"big": big, "stalled": stalled, "trickle": trickle}[attack](port, *numbers)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
