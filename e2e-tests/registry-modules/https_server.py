"""Serves DIR over HTTPS on 127.0.0.1 with CERT and KEY, for `https://` policy modules:

    https_server.py DIR CERT KEY PORTFILE

writes the port it listens on to PORTFILE once it accepts connections, and logs each request
on stderr.
"""
import functools
import http.server
import ssl
import sys


def main():
    directory, cert, key, port_file = sys.argv[1:]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(port_file, "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
