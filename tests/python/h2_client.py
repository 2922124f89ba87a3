"""An HTTP/2 client over cleartext (prior knowledge, as gRPC channels
speak) holding one connection, as a pool holds it across an agent's
restart: opens it, prints `ready`; then, for each line `go N` on stdin,
makes N requests one after the other on it and prints `done`; ends when
stdin closes. Usage: h2_client.py PORT (needs the `h2` package).

Each of its writes is made with nothing from the server unread, so each
opens an exchange: the preface with its SETTINGS, the SETTINGS
acknowledgement once the server's SETTINGS and its acknowledgement of
ours have both arrived, then one write per request (HEADERS), whose
answer is read whole before the next."""

import socket
import sys

import h2.config
import h2.connection
import h2.events

port = int(sys.argv[1])
conn_socket = socket.create_connection(("127.0.0.1", port))
connection = h2.connection.H2Connection(
    config=h2.config.H2Configuration(client_side=True)
)
connection.initiate_connection()
conn_socket.sendall(connection.data_to_send())
settings = acknowledged = False
while not (settings and acknowledged):
    data = conn_socket.recv(65535)
    if not data:
        sys.exit("the server closed the connection")
    for event in connection.receive_data(data):
        settings |= isinstance(event, h2.events.RemoteSettingsChanged)
        acknowledged |= isinstance(event, h2.events.SettingsAcknowledged)
conn_socket.sendall(connection.data_to_send())


def request():
    stream = connection.get_next_available_stream_id()
    connection.send_headers(
        stream,
        [
            (":method", "GET"),
            (":path", "/"),
            (":scheme", "http"),
            (":authority", f"127.0.0.1:{port}"),
        ],
        end_stream=True,
    )
    conn_socket.sendall(connection.data_to_send())
    while True:
        data = conn_socket.recv(65535)
        if not data:
            sys.exit("the server closed the connection")
        ended = any(
            isinstance(event, h2.events.StreamEnded) and event.stream_id == stream
            for event in connection.receive_data(data)
        )
        pending = connection.data_to_send()
        if pending:
            conn_socket.sendall(pending)
        if ended:
            return


print("ready", flush=True)
for line in sys.stdin:
    for _ in range(int(line.split()[1])):
        request()
    print("done", flush=True)
