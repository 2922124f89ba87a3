"""An HTTP/1.1 service and its client, for the request signal's errors.

http_statuses.py serve
    Python's http.server (a thread per connection, HTTP/1.1 keep-alive) on
    127.0.0.1, an ephemeral port; prints "listening PORT" and serves until
    stdin closes: GET /ok answers 200, GET /fail answers 500, GET /close
    closes the connection without an answer.
http_statuses.py call PORT OK FAIL CLOSE
    OK GETs of /ok, then FAIL of /fail, then CLOSE of /close over keep-alive
    connections (a new one after each close); prints what it received:
    "received ok=N server_error=M closed=K".
"""

import http.client
import http.server
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/close":
            self.close_connection = True
            return
        status = 500 if self.path == "/fail" else 200
        body = b"failed\n" if status == 500 else b"ok\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()


def call(port, ok, fail, close):
    received = {"ok": 0, "server_error": 0, "closed": 0}
    connection = http.client.HTTPConnection("127.0.0.1", port)
    for path, count in (("/ok", ok), ("/fail", fail), ("/close", close)):
        for _ in range(count):
            connection.request("GET", path)
            try:
                response = connection.getresponse()
                response.read()
            except http.client.RemoteDisconnected:
                received["closed"] += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port)
                continue
            received["ok" if response.status == 200 else "server_error"] += 1
    connection.close()
    print(
        f"received ok={received['ok']} server_error={received['server_error']} "
        f"closed={received['closed']}",
        flush=True,
    )


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve()
    else:
        call(*map(int, sys.argv[2:6]))
