"""Imported once by the job forkserver so that every job process starts warm.

Importing this module warms the analysis (its modules and filter banks); forked job
processes inherit the result instead of paying for it each.
"""

from audio_service.analysis import warm_up
from audio_service.jobs import process  # noqa: F401 - the job entry point, pre-imported

warm_up()
