"""The Redis connection of the back-end, and how its failures reach callers.

Every back-end call runs under a deadline (``asyncio.timeout``) and turns connection
errors and timeouts into :class:`BackendUnavailable`, so the API answers 503 within about
three seconds while Redis is down instead of hanging. The deadline is ours rather than
redis-py's ``socket_timeout`` on purpose: with a socket timeout, redis-py sends through
``asyncio.wait_for``, which on Python 3.11 can swallow a task's cancellation, and a
cancelled tail loop or job runner that carries on keeps a process from shutting down.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from audio_service.errors import BackendUnavailable

#: Deadline of one ordinary call: a connect attempt, the one retry, and the command.
COMMAND_SECONDS = 3.0
#: Longest XREAD/XREADGROUP block; callers asking for longer get an early, empty answer.
MAX_BLOCK_SECONDS = 10.0
#: Deadline of a call that blocks in Redis.
BLOCKING_SECONDS = MAX_BLOCK_SECONDS + COMMAND_SECONDS
_CONNECT_SECONDS = 1.0
#: Idle connections are PINGed before use after this long, so a pool notices a restarted
#: Redis on the health check rather than on a command.
_HEALTH_CHECK_SECONDS = 15

P = ParamSpec("P")
T = TypeVar("T")

#: A stream entry as the client below returns it: bytes throughout, as it never decodes.
Entry = tuple[bytes, dict[bytes, bytes]]


def connect(url: str) -> Redis:
    """A client (with its own pool) that reconnects by itself after Redis restarts.

    One retry, after a short backoff, covers the stale pooled connection that a restart
    leaves behind; more would only delay the 503 that callers are owed while Redis is down.
    """
    return Redis.from_url(
        url,
        socket_connect_timeout=_CONNECT_SECONDS,
        # No socket timeout (redis-py's default is 5 s): the deadlines above replace it.
        socket_timeout=None,
        socket_keepalive=True,
        health_check_interval=_HEALTH_CHECK_SECONDS,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.1), retries=1),
        # The parsing in this package expects RESP2 replies (lists, not RESP3 maps).
        protocol=2,
    )


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
                reason = str(exc) or f"no answer within {deadline}s"
                raise BackendUnavailable(f"Redis is unreachable: {reason}") from exc

        return wrapper

    return decorate


def entries(reply: object) -> list[Entry]:
    """The entries of an XRANGE/XREVRANGE/XAUTOCLAIM reply."""
    return cast(list[Entry], reply or [])


def streams(reply: object) -> list[tuple[bytes, list[Entry]]]:
    """The ``[stream key, entries]`` pairs of an XREAD/XREADGROUP reply (none on timeout)."""
    return cast(list[tuple[bytes, list[Entry]]], reply or [])
