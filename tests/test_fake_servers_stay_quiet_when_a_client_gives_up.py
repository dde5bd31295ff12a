"""The fake Gmail / Twilio servers (tests/fakes/http.py) answer a client that already gave up
(its timeout, during a scripted stall) without a traceback on stderr: the request is
recorded, and nothing in the test log looks like a failure that was not one."""

from __future__ import annotations

import socket
import struct
import time

from tests.fakes.http import FakeServer, Received, Reply


class _Big(FakeServer):
    def handle(self, request: Received) -> Reply:
        return Reply(200, b"x" * (4 << 20))


def test_a_reply_to_a_client_that_left_prints_nothing(capfd):
    fake = _Big().start()
    try:
        fake.stall("GET", "^/slow$", seconds=0.5)
        host, port = fake.url.removeprefix("http://").split(":")
        client = socket.create_connection((host, int(port)))
        client.sendall(b"GET /slow HTTP/1.1\r\nHost: fake\r\n\r\n")
        time.sleep(0.1)  # the request is in; the reply waits for the stall
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # a reset, as a client timing out drops its connection
        deadline = time.monotonic() + 10
        while not fake.received("GET", "^/slow$") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # the stall ends and the fake writes its reply to the closed socket
    finally:
        fake.stop()
    assert len(fake.received("GET", "^/slow$")) == 1
    err = capfd.readouterr().err
    assert "Exception occurred during processing" not in err, err
