"""LeanQueue keeps the asyncio.Queue behaviour engine.io's and uvicorn's code relies on."""

from __future__ import annotations

import asyncio

import pytest
from websockets.frames import Frame, Opcode

from audio_service.websocket.lean import LeanQueue, text_frame


async def test_items_come_out_in_order_whether_or_not_a_getter_waits() -> None:
    queue: LeanQueue[int] = LeanQueue()
    waiting = queue.get()  # a getter before any item: served by the first put
    queue.put_nowait(1)
    await queue.put(2)
    queue.put_nowait(3)
    assert await waiting == 1
    assert queue.qsize() == 2 and not queue.empty()
    assert await queue.get() == 2
    assert queue.get_nowait() == 3
    assert queue.empty()
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()


async def test_wait_for_a_get_times_out_without_losing_later_items() -> None:
    # engine.io's writer: asyncio.wait_for(queue.get(), ping interval + timeout).
    queue: LeanQueue[str] = LeanQueue()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.get(), 0.01)
    queue.put_nowait("after")  # the timed-out getter must not swallow it
    assert await asyncio.wait_for(queue.get(), 5) == "after"


async def test_join_waits_until_every_item_is_done() -> None:
    queue: LeanQueue[int] = LeanQueue()
    await queue.join()  # nothing unfinished: returns at once
    queue.put_nowait(1)
    queue.put_nowait(2)
    joined = asyncio.ensure_future(queue.join())
    queue.get_nowait()
    queue.task_done()
    await asyncio.sleep(0)
    assert not joined.done()
    queue.get_nowait()
    queue.task_done()
    await asyncio.wait_for(joined, 5)
    with pytest.raises(ValueError):
        queue.task_done()


async def test_a_get_after_a_timed_out_one_still_gets_what_is_queued() -> None:
    queue: LeanQueue[int] = LeanQueue()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.get(), 0.01)
    queue.put_nowait(7)
    # A getter that arrives before the loop served the put.
    assert await asyncio.wait_for(queue.get(), 5) == 7
    assert queue.empty()


@pytest.mark.parametrize("size", [0, 125, 126, 700, 65_535, 65_536, 300_000])
def test_text_frames_are_the_frames_websockets_would_send(size: int) -> None:
    text = "x" * size
    frame = Frame(Opcode.TEXT, text.encode())
    assert text_frame(text) == frame.serialize(mask=False, extensions=[])
    assert text_frame(text) == text_frame(text)  # the cached one, for the same text
