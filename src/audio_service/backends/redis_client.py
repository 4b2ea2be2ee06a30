"""The Redis connection of the back-end, and how its failures reach callers.

Every back-end call runs under a deadline (``asyncio.timeout``) and turns connection
errors and timeouts into :class:`BackendUnavailable`, so the API answers 503 within
seconds while Redis is down instead of hanging. The deadline is ours rather than
redis-py's ``socket_timeout`` on purpose: with a socket timeout, redis-py sends through
``asyncio.wait_for``, which on Python 3.11 can swallow a task's cancellation, and a
cancelled tail loop or job runner that carries on keeps a process from shutting down.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError
from redis.exceptions import TimeoutError as RedisTimeoutError

from audio_service.errors import BackendUnavailable

logger = logging.getLogger(__name__)

#: Deadline of one ordinary call: two connect attempts (a dead Redis fails within 2.5 s),
#: the command, and slack for a busy process.
COMMAND_SECONDS = 5.0
#: Longest XREAD/XREADGROUP block; callers asking for longer get an early, empty answer.
MAX_BLOCK_SECONDS = 10.0
#: Deadline of a call that blocks in Redis.
BLOCKING_SECONDS = MAX_BLOCK_SECONDS + COMMAND_SECONDS
_CONNECT_SECONDS = 1.0
#: Connections per process: a few blocking reads (tail, claims) and the ordinary commands.
_MAX_CONNECTIONS = 16
#: Idle connections are PINGed before use after this long, so a pool notices a restarted
#: Redis on the health check rather than on a command.
_HEALTH_CHECK_SECONDS = 15

P = ParamSpec("P")
T = TypeVar("T")

#: A stream entry as the client below returns it: bytes throughout, as it never decodes.
Entry = tuple[bytes, dict[bytes, bytes]]


class _BoundedPool(ConnectionPool):
    """A pool of at most ``limit`` connections; callers wait for a free one.

    A burst of subscribes then queues for a connection instead of opening hundreds at once
    (which, on a loaded machine, is what makes connects time out). Unlike redis-py's
    BlockingConnectionPool, giving a connection back never waits: a deadline that expires
    right then cannot strand the connection outside the pool.
    """

    def __init__(self, *, limit: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._slots = asyncio.Semaphore(limit)

    async def get_connection(self, *_: Any, **__: Any) -> AbstractConnection:
        await self._slots.acquire()
        try:
            # redis-py leaves this method unannotated.
            connection: AbstractConnection = await super().get_connection()  # type: ignore[no-untyped-call]
            return connection
        except BaseException:
            self._slots.release()
            raise

    async def release(self, connection: AbstractConnection) -> None:
        try:
            await super().release(connection)
        finally:
            self._slots.release()


def connect(url: str) -> Redis:
    """A client that reconnects by itself after Redis restarts.

    One retry, after a short backoff, covers the stale pooled connection that a restart
    leaves behind; more would only delay the 503 that callers are owed while Redis is down.
    """
    pool = _BoundedPool.from_url(
        url,
        limit=_MAX_CONNECTIONS,
        socket_connect_timeout=_CONNECT_SECONDS,
        # No socket timeout (redis-py's default is 5 s): the deadlines above replace it.
        socket_timeout=None,
        socket_keepalive=True,
        health_check_interval=_HEALTH_CHECK_SECONDS,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.1), retries=1),
        # The parsing in this package expects RESP2 replies (lists, not RESP3 maps).
        protocol=2,
    )
    # from_pool: closing the client closes the pool too.
    return Redis.from_pool(pool)


def block_ms(timeout: float, cap: float = MAX_BLOCK_SECONDS) -> int | None:
    """The BLOCK argument for a wait of ``timeout`` seconds (``None``: do not block)."""
    if timeout <= 0:
        return None
    # BLOCK 0 would mean "forever".
    return max(1, round(min(timeout, cap) * 1000))


def unavailable_as_503(
    deadline: float | None = COMMAND_SECONDS,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """Run a back-end method within ``deadline`` seconds (``None``: it keeps its own) and
    raise :class:`BackendUnavailable` (HTTP 503) when Redis cannot be reached in time."""

    def decorate(method: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        @functools.wraps(method)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                async with asyncio.timeout(deadline):
                    return await method(*args, **kwargs)
            except (RedisConnectionError, RedisTimeoutError, TimeoutError) as exc:
                # The reason names Redis's host and port: for the log, never for clients.
                logger.warning("Redis is unreachable: %s", exc or f"no answer in {deadline}s")
                raise BackendUnavailable("the back-end is unavailable; retry shortly") from exc
            except OutOfMemoryError as exc:
                # maxmemory reached under noeviction: refuse new work rather than evict.
                logger.warning("Redis is full: %s", exc)
                raise BackendUnavailable("the service is at capacity; retry later") from exc

        return wrapper

    return decorate


def entries(reply: object) -> list[Entry]:
    """The entries of an XRANGE/XREVRANGE/XAUTOCLAIM reply."""
    return cast(list[Entry], reply or [])


def streams(reply: object) -> list[tuple[bytes, list[Entry]]]:
    """The ``[stream key, entries]`` pairs of an XREAD/XREADGROUP reply (none on timeout)."""
    return cast(list[tuple[bytes, list[Entry]]], reply or [])
