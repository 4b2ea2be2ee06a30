"""Redis connections of the back-end, and how their failures reach callers.

Two pools: short timeouts for ordinary commands, so that the API answers 503 within about
two seconds while Redis is down instead of hanging; and a pool for the blocking reads
(XREAD/XREADGROUP BLOCK), whose socket timeout must outlast the longest block.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from audio_service.errors import BackendUnavailable

#: Longest XREAD/XREADGROUP block; callers asking for longer get an early, empty answer.
MAX_BLOCK_SECONDS = 10.0
_CONNECT_TIMEOUT = 1.0
_COMMAND_TIMEOUT = 2.0
#: Idle connections are PINGed before use after this long, so a pool notices a restarted
#: Redis on the health check rather than on a command.
_HEALTH_CHECK_SECONDS = 15

P = ParamSpec("P")
T = TypeVar("T")

#: A stream entry as the clients below return it: bytes throughout, as they never decode.
Entry = tuple[bytes, dict[bytes, bytes]]


def entries(reply: object) -> list[Entry]:
    """The entries of an XRANGE/XREVRANGE/XAUTOCLAIM reply."""
    return cast(list[Entry], reply or [])


def streams(reply: object) -> list[tuple[bytes, list[Entry]]]:
    """The ``[stream key, entries]`` pairs of an XREAD/XREADGROUP reply (none on timeout)."""
    return cast(list[tuple[bytes, list[Entry]]], reply or [])


def connect(url: str, *, blocking: bool = False) -> Redis:
    """A client (with its own pool) that reconnects by itself after Redis restarts.

    One retry, after a short backoff, covers the stale pooled connection that a restart
    leaves behind; more would only delay the 503 that callers are owed while Redis is down.
    """
    return Redis.from_url(
        url,
        socket_connect_timeout=_CONNECT_TIMEOUT,
        socket_timeout=MAX_BLOCK_SECONDS + 5 if blocking else _COMMAND_TIMEOUT,
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
    method: Callable[P, Awaitable[T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Raise :class:`BackendUnavailable` (HTTP 503) when Redis cannot be reached."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise BackendUnavailable(f"Redis is unreachable: {exc}") from exc

    return wrapper
