"""The bridge's buffered paho socket: same bytes, same order, fewer system calls."""

from __future__ import annotations

import socket

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from wastewatch.ingest.paho_buffered import BufferedReadClient, BufferedSocket


class Chunks:
    """A non-blocking socket stand-in that returns the given chunks, then would block."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.recv_calls = 0
        self.sent: list[bytes] = []

    def recv(self, size: int) -> bytes:
        self.recv_calls += 1
        if not self.chunks:
            raise BlockingIOError
        return self.chunks.pop(0)[:size]

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        return len(data)


def test_small_reads_are_served_from_one_large_recv() -> None:
    inner = Chunks(b"\x30\x05hello\x30\x02hi")
    sock = BufferedSocket(inner)
    got = [sock.recv(1), sock.recv(1), sock.recv(5), sock.recv(1), sock.recv(1), sock.recv(2)]
    assert got == [b"\x30", b"\x05", b"hello", b"\x30", b"\x02", b"hi"]
    assert inner.recv_calls == 1
    assert sock.pending() == 0


def test_pending_counts_what_is_buffered_and_a_short_buffer_returns_what_it_has() -> None:
    sock = BufferedSocket(Chunks(b"abcdef", b"gh"))
    assert sock.recv(2) == b"ab"
    assert sock.pending() == 4
    assert sock.recv(10) == b"cdef"  # a short read, as a socket's recv may be; paho copes
    assert sock.recv(10) == b"gh"


def test_no_data_and_end_of_stream_reach_paho_as_a_socket_would() -> None:
    sock = BufferedSocket(Chunks())
    with pytest.raises(BlockingIOError):
        sock.recv(1)

    class Closed(Chunks):
        def recv(self, size: int) -> bytes:
            return b""

    assert BufferedSocket(Closed()).recv(1) == b""


def test_everything_else_is_the_socket_itself() -> None:
    inner = Chunks()
    sock = BufferedSocket(inner)
    assert sock.send(b"x") == 1
    assert inner.sent == [b"x"]


def test_the_client_wraps_the_socket_it_creates(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[socket.socket] = []

    def plain(self: paho.Client) -> socket.socket:
        a, b = socket.socketpair()
        made.extend((a, b))
        return a

    monkeypatch.setattr(paho.Client, "_create_socket", plain)
    client = BufferedReadClient(CallbackAPIVersion.VERSION2, client_id="t")
    try:
        wrapped = client._create_socket()
        assert isinstance(wrapped, BufferedSocket)
    finally:
        for s in made:
            s.close()
