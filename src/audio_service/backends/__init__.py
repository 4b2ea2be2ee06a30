"""Back-ends behind one interface, chosen by URL scheme and imported lazily."""

from __future__ import annotations

from audio_service.backends.base import Backend
from audio_service.config import Settings


def create_backend(settings: Settings) -> Backend:
    """By the scheme of ``REDIS_URL``: ``memory://`` (the default, also when it is empty),
    else ``redis://``, ``rediss://`` or ``unix://`` (the only others ``Settings`` admits)."""
    if settings.embedded:
        from audio_service.backends.memory import MemoryBackend

        return MemoryBackend(max_retained=settings.max_retained_jobs)
    try:
        from audio_service.backends.redis import RedisBackend
    except ImportError as exc:  # pragma: no cover - redis is a declared dependency
        raise RuntimeError("the Redis back-end needs redis-py: pip install redis") from exc
    return RedisBackend(settings)


__all__ = ["Backend", "create_backend"]
