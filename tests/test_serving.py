"""The listening socket `facerec serve --workers N` shares between its workers."""

from __future__ import annotations

import socket

from facerec.serving import listening_socket


def test_the_socket_names_tcp_and_disables_nagle() -> None:
    sock = listening_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY only then
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        sock.listen()
        client = socket.create_connection(sock.getsockname())
        accepted, _ = sock.accept()
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1  # inherited
        accepted.close()
        client.close()
    finally:
        sock.close()
