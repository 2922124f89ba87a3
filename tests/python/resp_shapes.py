"""A Redis client that writes each command in a shape some clients,
proxies or attackers make, over one connection to 127.0.0.1:PORT; reads
each answer whole, then prints `answered N`. Usage: resp_shapes.py PORT
SHAPE COUNT, SHAPE one of:

  iovecs     BLPOP jobs 0.1 as seven iovecs of one sendmsg
  writes     BLPOP's array header (*3) in one write, the rest in the next
  page-edge  BLPOP jobs 0.1 ending where its page ends, the next page
             unreadable
  spoof      GET k, after a zero-length iovec whose address holds a BLPOP
             (its bytes are not sent: only the GET is)
"""

import ctypes
import mmap
import socket
import sys

port, shape, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
PARTS = [b"*3\r\n", b"$5\r\n", b"BLPOP\r\n", b"$4\r\n", b"jobs\r\n", b"$3\r\n", b"0.1\r\n"]
BLPOP = b"".join(PARTS)
GET = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"

connection = socket.create_connection(("127.0.0.1", port))
connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

page = mmap.PAGESIZE
pages = mmap.mmap(-1, 2 * page)
pages[page - len(BLPOP) : page] = BLPOP
libc = ctypes.CDLL(None, use_errno=True)
address = ctypes.addressof(ctypes.c_char.from_buffer(pages))
if libc.mprotect(ctypes.c_void_p(address + page), page, 0) != 0:
    sys.exit("mprotect failed")
spoof = bytearray(BLPOP)


def send():
    if shape == "iovecs":
        connection.sendmsg(PARTS)
    elif shape == "writes":
        connection.sendall(PARTS[0])
        connection.sendall(b"".join(PARTS[1:]))
    elif shape == "page-edge":
        connection.sendmsg([memoryview(pages)[page - len(BLPOP) : page]])
    elif shape == "spoof":
        connection.sendmsg([memoryview(spoof)[0:0], GET])
    else:
        sys.exit(f"unknown shape {shape}")


def answer():
    got = b""
    while not got.endswith(b"\r\n"):
        data = connection.recv(4096)
        if not data:
            sys.exit("the server closed the connection")
        got += data
    return got


for _ in range(count):
    send()
    answer()
print("answered", count, flush=True)
