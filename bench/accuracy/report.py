"""Markdown tables of the scores, and docs/ACCURACY.md's generated part."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from bench.accuracy.score import METRICS, TARGETS, aggregate

BEGIN, END = "<!-- BEGIN GENERATED: bench/accuracy -->", "<!-- END GENERATED -->"
CLASS_ORDER = (
    "percussion", "no percussion", "fast (>=160 BPM)", "slow (<=75 BPM)", "triple/compound",
    "tempo change/rit.", "silence/fade", "live (tempo wander)", "control",
)  # fmt: skip
CLASS_METRICS = ("acc1", "acc2", "curve", "beat_f", "meter", "key", "bound_f3", "control")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _status(name: str, ours: float | None, naive: float | None) -> str:
    if name not in TARGETS or ours is None:
        return ""
    target = TARGETS[name]
    verdict = "met" if ours >= target - 1e-9 else f"missed by {target - ours:.2f}"
    if naive is not None:
        verdict += ", ahead of naive" if ours > naive + 1e-9 else ", NOT ahead of naive"
    return verdict


def overall_table(scores: dict[str, dict[str, dict[str, float]]]) -> str:
    """Metric rows, one column per implementation, the target and the verdict."""
    means = {impl: aggregate(list(rows.values())) for impl, rows in scores.items()}
    ours, naive = means.get("ours", {}), means.get("naive", {})
    lines = [
        "| figure | pieces | ours | naive librosa script | target | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for name, label in METRICS.items():
        target = f">= {TARGETS[name]:.2f}" if name in TARGETS else ""
        o, n = ours.get(name), naive.get(name)
        count = max(sum(name in row for row in rows.values()) for rows in scores.values())
        verdict = _status(name, o, n)
        lines.append(f"| {label} | {count} | {_fmt(o)} | {_fmt(n)} | {target} | {verdict} |")
    return "\n".join(lines)


def class_table(
    scores: dict[str, dict[str, dict[str, float]]], truths: dict[str, dict[str, Any]]
) -> str:
    """Per class of piece: 'ours / naive' for the main figures."""
    head = " | ".join(METRICS[m].split(" (")[0] for m in CLASS_METRICS)
    lines = [f"| class (pieces) | {head} |", "|---" * (len(CLASS_METRICS) + 1) + "|"]
    classes = [("all music", [n for n, t in truths.items() if t["music"]])]
    classes += [(c, [n for n, t in truths.items() if c in t["tags"]]) for c in CLASS_ORDER]
    for label, names in classes:
        if not names:
            continue
        cells = []
        for metric in CLASS_METRICS:
            values = []
            for impl in ("ours", "naive"):
                rows = [scores[impl][n] for n in names if impl in scores and n in scores[impl]]
                value = aggregate(rows).get(metric) if rows else None
                values.append(_fmt(value))
            cells.append("" if values == ["n/a", "n/a"] else " / ".join(values))
        lines.append(f"| {label} ({len(names)}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def piece_table(
    estimates: dict[str, dict[str, dict[str, Any]]],
    scores: dict[str, dict[str, dict[str, float]]],
    truths: dict[str, dict[str, Any]],
) -> str:
    """One row per piece: truth against each implementation's answer."""
    lines = [
        "| piece | tempo: truth / ours / naive | key: truth / ours / naive | meter: truth / ours "
        "| beat F: ours / naive | downbeat F: ours | F@3s: ours / naive | music likelihood |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def est(impl: str, name: str, field: str) -> Any:
        return estimates.get(impl, {}).get(name, {}).get(field)

    def sc(impl: str, name: str, field: str) -> str:
        value = scores.get(impl, {}).get(name, {}).get(field)
        return "-" if value is None else f"{value:.2f}"

    def bpm(value: float | None) -> str:
        return "none" if value is None else f"{value:.1f}"

    def key(k: str | None, m: str | None) -> str:
        return "none" if k is None else f"{k} {m or ''}".strip()

    for name, t in truths.items():
        tempo = " / ".join(
            [bpm(t["tempo"])] + [bpm(est(i, name, "tempo")) for i in ("ours", "naive")]
        )
        keys = " / ".join(
            [key(t["key"], t["mode"])]
            + [key(est(i, name, "key"), est(i, name, "mode")) for i in ("ours", "naive")]
        )
        meter = f"{t['meter'] or '-'} / {est('ours', name, 'meter') or 'none'}"
        beat = f"{sc('ours', name, 'beat_f')} / {sc('naive', name, 'beat_f')}"
        bound = f"{sc('ours', name, 'bound_f3')} / {sc('naive', name, 'bound_f3')}"
        likelihood = est("ours", name, "music_likelihood")
        ml = "-" if likelihood is None else f"{likelihood:.2f}"
        row = [name, tempo, keys, meter, beat, sc("ours", name, "downbeat_f"), bound, ml]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def composition(truths: dict[str, dict[str, Any]]) -> str:
    counts = Counter(tag for t in truths.values() for tag in t["tags"])
    keys = {f"{t['key']} {t['mode']}" for t in truths.values() if t["music"]}
    durations = [t["duration"] for t in truths.values()]
    parts = [f"{counts[c]} {c}" for c in CLASS_ORDER if counts[c]]
    return (
        f"{len(truths)} pieces ({sum(t['music'] for t in truths.values())} music): "
        + ", ".join(parts)
        + f"; {len(keys)} distinct keys"
        + f"; {min(durations):.0f}-{max(durations):.0f} s each"
        + f", {sum(durations) / 60:.1f} min in all."
    )


def write_doc(path: Path, generated: str) -> None:
    """Replace the generated block of ``path``, keeping the prose around it."""
    text = path.read_text() if path.exists() else "# Analysis accuracy\n"
    if BEGIN not in text:
        text = text.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(f"{head}{BEGIN}\n{generated.strip()}\n{END}{tail}")
