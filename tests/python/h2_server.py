"""An HTTP/2 server over cleartext (prior knowledge, as gRPC and service
meshes speak to each other), answering each request after DELAY seconds,
the streams of a connection one after the other: prints `listening PORT`,
serves until stdin closes. Usage: h2_server.py DELAY (needs the `h2`
package)."""

import socket
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events

delay = float(sys.argv[1])


def serve(conn_socket):
    connection = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=False)
    )
    connection.initiate_connection()
    conn_socket.sendall(connection.data_to_send())
    while True:
        data = conn_socket.recv(65535)
        if not data:
            return
        for event in connection.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                time.sleep(delay)
                connection.send_headers(
                    event.stream_id, [(":status", "200"), ("content-length", "3")]
                )
                connection.send_data(event.stream_id, b"ok\n", end_stream=True)
        conn_socket.sendall(connection.data_to_send())


listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print("listening", listener.getsockname()[1], flush=True)


def accept():
    while True:
        conn_socket, _ = listener.accept()
        threading.Thread(target=serve, args=(conn_socket,), daemon=True).start()


threading.Thread(target=accept, daemon=True).start()
sys.stdin.read()
