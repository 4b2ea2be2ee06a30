"""What runs in a job's own process: download, decode, analyse, and report back.

A job gets a fresh process forked from a pre-warmed forkserver (``jobs/runner.py``), with
CPU-time and memory limits, so a hostile or pathological file can only end its own job.
It reports :mod:`audio_service.protocol` messages through a pipe and never touches the
back-end.

The limits are measured, not guessed: a warm job process (numpy, scipy.fft and the analysis
imported by the forkserver) maps about 0.6-0.7 GiB, so the default 2 GiB address-space
limit leaves room for the analysis and still stops a runaway allocation (see
``tests/hardening/test_job_limits.py``).
"""

from __future__ import annotations

import logging
import math
import resource
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from audio_service.errors import ServiceError
from audio_service.models import JobStatus
from audio_service.protocol import (
    ChunkMessage,
    ErrorCode,
    ErrorMessage,
    JobMessage,
    PreparedComplete,
    ProgressMessage,
    Segment,
)

#: Progress (percent) at which analysis starts, for uploads and for URL jobs.
_UPLOAD_START, _URL_START = 5, 20
#: Progress never says 100 before the ``complete`` event.
_ANALYSIS_END = 99
_BLOCK_FRAMES = 65536
#: Files the job may write beyond the download itself (yt-dlp's temporary files, ffmpeg's
#: message log).
_FILE_MARGIN_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    #: A local audio file, or ``None`` for a URL job.
    path: str | None
    url: str | None
    work_dir: str
    max_duration: float
    max_download_bytes: int
    allow_private_urls: bool
    cpu_seconds: int
    memory_bytes: int
    #: Wall-clock bound of the download alone (the runner bounds the whole job).
    download_seconds: float
    #: What error messages call the audio: the user's file name, never the temp file.
    label: str = "the audio"
    #: Once the audio's length is known the CPU limit shrinks to this many seconds per
    #: second of audio, plus a fixed allowance (never above ``cpu_seconds``).
    cpu_per_audio_second: float = 1.0


def _lower(kind: int, limit: int) -> None:
    """Lower the soft limit of ``kind`` to ``limit``, never above the hard limit."""
    _soft, hard = resource.getrlimit(kind)
    soft = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(kind, (soft, hard))


def limit_resources(spec: JobSpec) -> None:
    """Bound this process (and the ffmpeg it may start, which inherits the limits)."""
    # SIGXCPU at the soft limit; the kernel's SIGKILL 5 s later if that is ignored.
    resource.setrlimit(resource.RLIMIT_CPU, (spec.cpu_seconds, spec.cpu_seconds + 5))
    _lower(resource.RLIMIT_AS, spec.memory_bytes)
    # A download cannot outgrow its cap on disk even if yt-dlp misses it; past the limit
    # write() fails with EFBIG (Python ignores SIGXFSZ, which would kill the process).
    _lower(resource.RLIMIT_FSIZE, spec.max_download_bytes + _FILE_MARGIN_BYTES)
    # A crash on a hostile file must not write a core dump of this size to disk.
    _lower(resource.RLIMIT_CORE, 0)


#: CPU seconds a job may use beyond its per-second allowance (decoder start, imports).
_CPU_BASE_SECONDS = 10.0


def cpu_allowance(spec: JobSpec, duration: float, used: float) -> int:
    """The CPU limit once the audio is known to last ``duration`` s and ``used`` s are spent.

    A short file gets a short budget: a ten-second clip cannot take the minutes of CPU that
    JOB_CPU_SECONDS grants ten minutes of music.
    """
    budget = used + _CPU_BASE_SECONDS + spec.cpu_per_audio_second * duration
    return max(1, min(spec.cpu_seconds, math.ceil(budget)))


def scale_cpu_limit(spec: JobSpec, duration: float) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    limit = cpu_allowance(spec, duration, usage.ru_utime + usage.ru_stime)
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (limit, hard))


class _Reporter:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.progress = 0

    def send(self, message: JobMessage) -> None:
        self.conn.send(message)

    def progress_to(
        self,
        status: JobStatus,
        percent: int,
        text: str,
        *,
        force: bool = False,
        duration: float | None = None,
    ) -> None:
        # Never backwards, and only when the integer percent moves: progress is driven by
        # the work done (seconds analysed, bytes downloaded), so a fast analysis still shows
        # every step and a 10-minute song sends about one event per percent, not per second.
        if percent <= self.progress and not force:
            return
        self.progress = max(self.progress, percent)
        self.send(ProgressMessage(status.value, self.progress, text, duration=duration))


def run_job(spec: JobSpec, conn: Connection) -> None:
    """Process entry point: always ends by sending one terminal message, then exits."""
    report = _Reporter(conn)
    try:
        limit_resources(spec)
        path = Path(spec.path) if spec.path else _download(spec, report)
        _analyse(spec, path, report)
    except ServiceError as exc:
        report.send(ErrorMessage(code=exc.code, message=exc.message))
    except MemoryError:
        report.send(ErrorMessage(ErrorCode.DECODE_ERROR, "the file needs too much memory"))
    except (BrokenPipeError, EOFError):
        return  # the runner is gone: nobody to report to
    except Exception:
        # The exception's text may name files and internals: the log has it, clients a
        # generic message.
        logging.getLogger(__name__).exception("job %s: the analysis failed", spec.job_id)
        report.send(ErrorMessage(ErrorCode.INTERNAL_ERROR, "the analysis failed"))
    finally:
        conn.close()


def _download(spec: JobSpec, report: _Reporter) -> Path:
    from audio_service import netguard
    from audio_service.jobs import extract

    if not spec.allow_private_urls:
        netguard.install()
    assert spec.url is not None
    report.progress_to(JobStatus.EXTRACTING, 1, "Downloading audio", force=True)

    def on_progress(fraction: float) -> None:
        report.progress_to(
            JobStatus.EXTRACTING, 1 + int(fraction * (_URL_START - 2)), "Downloading audio"
        )

    return extract.download(
        spec.url,
        Path(spec.work_dir),
        max_bytes=spec.max_download_bytes,
        on_progress=on_progress,
        deadline=spec.download_seconds,
    )


def _analyse(spec: JobSpec, path: Path, report: _Reporter) -> None:
    from audio_service.analysis import analyze_file

    start = _URL_START if spec.url else _UPLOAD_START
    known: list[float] = []

    def on_start(duration: float | None) -> None:
        if duration:
            known.append(duration)
            scale_cpu_limit(spec, duration)
        report.progress_to(
            JobStatus.ANALYZING, start, "Analyzing audio", force=True, duration=duration
        )

    def on_segment(segment: Segment) -> None:
        report.send(ChunkMessage(timestamp=float(segment["start_time"]), segment=segment))
        if known:
            # The fraction of the audio analysed so far (the stated length may be an estimate).
            fraction = min(1.0, float(segment["end_time"]) / known[0])
            percent = start + int(fraction * (_ANALYSIS_END - start))
            report.progress_to(JobStatus.ANALYZING, percent, "Analyzing audio")

    analysis = analyze_file(
        path,
        on_segment=on_segment,
        on_start=on_start,
        max_duration=spec.max_duration,
        block_frames=_BLOCK_FRAMES,
        name=spec.label,
    )
    report.progress_to(JobStatus.COMPLETE, 100, "Analysis complete", force=True)
    report.send(PreparedComplete.of(analysis))
