#!/usr/bin/env python3
"""A certificate repository for x5u fetches: serves the files of a directory over HTTPS.

    cert_repo.py --dir DIR --cert CERT_PEM --key KEY_PEM

Binds 127.0.0.1 on a free port and prints "listening PORT" (flushed); then prints one line,
"GET /path", for every request it answers. A file is served as
application/pem-certificate-chain with Cache-Control: max-age=86400; a missing one is 404.
"""

import argparse
import http.server
import os
import ssl
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    args = ap.parse_args()
    root = os.path.realpath(args.dir)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            path = os.path.realpath(os.path.join(root, self.path.lstrip("/")))
            sys.stdout.write("GET %s\n" % self.path)
            sys.stdout.flush()
            if not path.startswith(root + os.sep) or not os.path.isfile(path):
                self.send_error(404)
                return
            with open(path, "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/pem-certificate-chain")
            self.send_header("Cache-Control", "max-age=86400")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    sys.stdout.write("listening %d\n" % server.server_address[1])
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
