#!/usr/bin/env python3
"""One HTTP/1.1 request with a header of N bytes over TLS; prints whether the whole request could
be sent, then the status line of the answer (or what went wrong instead).

  big_header.py PORT N

A server that answers 431 and closes while the client is still sending resets the connection,
and the client's kernel drops the 431 it had received: the send fails and nothing is read.
"""
import socket
import ssl
import sys

port, size = int(sys.argv[1]), int(sys.argv[2])
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
context.set_alpn_protocols(["http/1.1"])
sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20),
                           server_hostname="localhost")
request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"x" * size + b"\r\n\r\n"
try:
    sock.sendall(request)
    print("sent")
except OSError as error:
    print(f"send failed: {error}")
try:
    print(sock.recv(4096).split(b"\r\n")[0].decode())
except OSError as error:
    print(f"read failed: {error}")
