"""What the hub relies on in python-socketio's and python-engineio's internals, pinned.

``websocket/engineio_adapter.py`` is the only module that touches those internals; each
test here would fail on a release of either package that changed what it relies on. (The
long-polling close that does not wait is pinned by
``tests/hardening/test_sockets.py::test_a_refused_polling_post_is_answered_at_once``.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
import socketio.packet
import uvicorn

from audio_service.protocol import dumps, socketio_event_text
from audio_service.websocket import engineio_adapter as eio
from tests.support.server import free_port

PAYLOADS: list[Any] = [
    {},
    {"job_id": "abc", "seq": 1, "type": "progress", "progress": 0, "message": "Queued"},
    {"text": 'Grüße, 音楽, emoji \U0001f3b5, quote " and backslash \\ and </script>'},
    {"nested": {"list": [1, 2.5, None, True, {"deeper": [[], {}]}]}, "n": -0.0},
    {"segment": {f"k{i}": [i / 7] * 50 for i in range(2000)}},
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=["empty", "flat", "unicode", "nested", "large"])
@pytest.mark.parametrize("name", ["chunk", "complete", "error"])
def test_event_text_equals_python_socketio_encoding(name: str, payload: Any) -> None:
    ours = socketio_event_text(name, dumps(payload))
    theirs = socketio.packet.Packet(socketio.packet.EVENT, data=[name, payload]).encode()
    assert ours == theirs
    assert json.loads(ours[1:]) == [name, payload]


@pytest.fixture
async def served() -> AsyncIterator[tuple[socketio.AsyncServer, str]]:
    sio = eio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            socketio.ASGIApp(sio), host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield sio, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


async def _until(condition: Any, what: str) -> None:
    try:
        async with asyncio.timeout(30):
            while not condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"timed out waiting until {what}")


async def test_a_queued_packet_reaches_the_client_and_counts_until_sent(
    served: tuple[socketio.AsyncServer, str],
) -> None:
    sio, url = served
    sids: list[str] = []
    sio.on("connect", lambda sid, environ: sids.append(sid))
    client = socketio.AsyncClient()
    got: asyncio.Queue[Any] = asyncio.Queue()
    client.on("hello", got.put_nowait)
    await client.connect(url, transports=["websocket"])
    try:
        await _until(lambda: sids, "the server saw the connection")
        outbox = eio.outbox(sio, sids[0])
        assert outbox is not None
        assert eio.is_connected(sio, sids[0])
        assert not outbox.closed
        before = outbox.backlog()
        for i in range(3):
            outbox.put(eio.message_packet(socketio_event_text("hello", dumps({"i": i}))))
        # No await since the puts: the socket's writer task has not run yet.
        assert outbox.backlog() == before + 3
        assert max(eio.backlogs(sio)) >= 3
        received = [await asyncio.wait_for(got.get(), 30) for _ in range(3)]
        assert received == [{"i": 0}, {"i": 1}, {"i": 2}]
        await _until(lambda: outbox.backlog() == 0, "the writer drained the queue")
    finally:
        await client.disconnect()
    await _until(lambda: outbox.closed, "the engine.io socket closed")
    assert eio.outbox(sio, sids[0]) is None
    assert not eio.is_connected(sio, sids[0])


async def test_a_socket_is_no_longer_connected_while_its_disconnect_is_handled(
    served: tuple[socketio.AsyncServer, str],
) -> None:
    sio, url = served
    seen: list[tuple[bool, Any]] = []

    async def on_disconnect(sid: str, *args: Any) -> None:
        seen.append((eio.is_connected(sio, sid), eio.outbox(sio, sid)))

    sio.on("disconnect", on_disconnect)
    client = socketio.AsyncClient()
    await client.connect(url, transports=["websocket"])
    await client.disconnect()
    await _until(lambda: seen, "the disconnect handler ran")
    assert seen == [(False, None)]
