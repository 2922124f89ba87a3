"""A blocking HTTPS client, as many services call an API: http.client over
Python's ssl (OpenSSL's socket BIO, which blocks in read(2)), COUNT GETs
over one keep-alive connection, connected ahead as a pool's connections are:
its first request is sent once the server's post-handshake messages (TLS
1.3 session tickets) wait unread. Prints `response_ns` (each request to its
answer, on this process's clock). Usage: blocking_https_client.py CA PORT COUNT"""

import http.client
import select
import ssl
import sys
import time

ca, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
context = ssl.create_default_context(cafile=ca)
connection = http.client.HTTPSConnection("127.0.0.1", port, context=context)
connection.connect()
readable, _, _ = select.select([connection.sock], [], [], 10)
assert readable, "no session ticket from the server"
took = []
for _ in range(count):
    started = time.monotonic_ns()
    connection.request("GET", "/")
    response = connection.getresponse()
    response.read()
    took.append(time.monotonic_ns() - started)
    assert response.status == 200, response.status
print("response_ns", " ".join(str(t) for t in took), flush=True)
