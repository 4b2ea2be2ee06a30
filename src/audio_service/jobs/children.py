"""Job processes seen from the runner: the forkserver, the pipe reader, the reaping.

Kept apart from :mod:`audio_service.jobs.runner` (which decides what a job's messages mean)
so that the process mechanics read in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
from multiprocessing.connection import Connection
from typing import Any

from audio_service.protocol import ErrorCode, JobMessage

#: Thread pools of the numerical libraries, sized to the host's cores unless told.
THREAD_POOL_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: How long a job process that sent its last message may take to exit before it is killed.
EXIT_GRACE_SECONDS = 2.0
#: Exit signals that mean "the process hit its resource limits".
_LIMIT_SIGNALS = {-signal.SIGXCPU, -signal.SIGKILL, -signal.SIGSEGV}
#: Put on the inbox once the child's end of the pipe is closed.
EOF_MARK = object()


def forkserver_context() -> Any:
    ctx = multiprocessing.get_context("forkserver")
    # A job analyses on one thread (concurrency is WORKER_CONCURRENCY processes), but each
    # BLAS pool thread maps about 40 MiB as the forkserver imports numpy and scipy, and
    # every job inherits those mappings: on a 32-core host they alone would exceed the
    # JOB_MEMORY_MB address-space limit. The forkserver takes this environment at start.
    for name in THREAD_POOL_VARIABLES:
        os.environ.setdefault(name, "1")
    # Imported (and warmed) once in the forkserver; every job process inherits it.
    ctx.set_forkserver_preload(["audio_service.jobs.preload"])
    return ctx


async def reap(process: Any, *, grace: float = EXIT_GRACE_SECONDS) -> None:
    """Wait up to ``grace`` seconds for a job process to exit by itself, then kill it.

    Returns once the process is gone: with the forkserver, ``join`` returns after the
    forkserver has collected the child's exit status.
    """
    if grace > 0:
        await asyncio.to_thread(process.join, grace)
    if process.is_alive():
        process.kill()
    await asyncio.to_thread(process.join, 5)


def exit_reason(exitcode: int | None) -> tuple[ErrorCode, str]:
    """The error code and message of a process that ended without a terminal message."""
    if exitcode in _LIMIT_SIGNALS:
        return ErrorCode.DECODE_ERROR, "the file exceeded the analysis resource limits"
    return ErrorCode.INTERNAL_ERROR, "the analysis process ended unexpectedly"


def pump(conn: Connection, inbox: asyncio.Queue[Any], loop: asyncio.AbstractEventLoop) -> None:
    """Thread: move messages from the child's pipe to the event loop."""
    try:
        while True:
            message: JobMessage = conn.recv()
            loop.call_soon_threadsafe(inbox.put_nowait, message)
    except (EOFError, OSError):
        pass
    finally:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(inbox.put_nowait, EOF_MARK)


def noop() -> None:
    return None
