"""Request heads are bounded in size and time on the API as `tfjobs api` runs it (which
`tfjobs up`, compose and the k8s manifests all call).

Before: 300 MB of headers on one anonymous connection took the API from 148 to 454 MB and
answered 200; half-sent headers held a connection open indefinitely (slowloris).
"""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from harness.stack import running_stack
from tests.chaos.test_stream_flood import rss_mb

pytestmark = pytest.mark.chaos


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=15)


def read_reply(sock: socket.socket) -> bytes:
    reply = b""
    try:
        while chunk := sock.recv(65536):
            reply += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return reply


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    settings = {"TFJOBS_HEADER_TIMEOUT_SECONDS": "2"}
    with running_stack(tmp_path_factory.mktemp("heads"), settings, workers=0) as stack:
        yield stack


def test_oversized_headers_are_431_without_being_read(api):
    before = rss_mb(api.api_pid)
    sock = connect(api.url)
    sock.sendall(b"GET /jobs HTTP/1.1\r\nHost: localhost\r\n")
    sent = 0
    try:
        for i in range(2000):  # up to 200 MB of headers, 100 KB at a time
            sock.sendall(b"X-Pad-%d: %s\r\n" % (i, b"a" * 100_000))
            sent += 100_000
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed the connection: what it should do
    reply = read_reply(sock)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]
    assert b"larger than the limit of 64 KB" in reply
    assert sent < 20_000_000  # refused long before the sender was done
    assert rss_mb(api.api_pid) - before < 30
    assert httpx.get(api.url + "/healthz").status_code == 200


def test_one_huge_header_line_is_431_too(api):
    sock = connect(api.url)
    try:
        sock.sendall(b"GET /jobs HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"b" * 1_000_000 + b"\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    reply = read_reply(sock)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]


def test_half_sent_headers_are_cut_off_after_the_header_timeout(api):
    sock = connect(api.url)
    sock.sendall(b"GET /jobs HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
    started = time.monotonic()
    reply = read_reply(sock)
    took = time.monotonic() - started
    sock.close()
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
    assert 1.5 < took < 6


def test_a_silent_connection_is_closed_after_the_header_timeout(api):
    sock = connect(api.url)
    started = time.monotonic()
    assert read_reply(sock) == b""
    assert time.monotonic() - started < 6
    sock.close()


def test_ordinary_requests_keep_alive_and_large_headers_under_the_limit_pass(api):
    with httpx.Client(base_url=api.url, timeout=10) as client:
        for _ in range(3):  # one kept-alive connection, several requests
            assert client.get("/jobs", headers={"X-Fine": "c" * 30_000}).status_code == 200
        body = {"model_type": "mlp", "loss": "mse", "epochs": 1, "dataset": "synthetic"}
        padded = client.post("/jobs", json=body, headers={"X-Pad": "d" * 50_000})
        assert padded.status_code == 201, padded.text
        time.sleep(2.5)  # past the header timeout: an idle kept-alive connection is not cut by it
        assert client.get("/healthz").status_code == 200
