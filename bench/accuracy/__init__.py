"""Accuracy benchmark: rendered music with exact truth, scored with mir_eval (issue 10).

Run ``.venv/bin/python -m bench.accuracy`` (see :mod:`bench.accuracy.run`).
"""
