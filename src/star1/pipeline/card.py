"""The dataset card (README.md) written next to a built dataset."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from star1.io import write_text_atomic
from star1.records import SCORE_KEYS, Record


def _table(header: tuple[str, str], counts: Counter, total: int) -> list[str]:
    lines = [f"| {header[0]} | {header[1]} | share |", "|---|---:|---:|"]
    for name, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"| {name} | {count} | {count / total:.1%} |" if total else f"| {name} | {count} | - |")
    return lines


def card_text(records: list[Record], summary, config, pack, command_line: str,
              removed_by_filter: dict[str, int]) -> str:
    total = len(records)
    by_category = Counter(c for r in records for c in (r.category or []))
    by_source = Counter(r.source or "unknown" for r in records)
    lines = [
        "# STAR-format safety reasoning dataset",
        "",
        f"Built by star1 with `{command_line}`.",
        "",
        f"- samples: **{total}** (target {config.select.n})",
        f"- classifier: `{_engine_name(config.engine_for('classifier'))}`",
        f"- teacher: `{_engine_name(config.engine_for('teacher'))}`",
        f"- judge: `{_engine_name(config.engine_for('judge'))}`",
        prompt_set_line(pack),
        f"- score thresholds: {config.select.min_scores}",
        "",
        "Record format: the released STAR-1 layout (`id`, `question`, `response` = "
        "`<think>\\nreasoning\\n</think>\\n\\nanswer`, `category`, `source`, `score`) plus `provenance`.",
        "",
        "## Stages",
        "",
        "| stage | in | out | failed | skipped | new calls | cached calls |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summary.stages:
        lines.append(f"| {s.stage} | {s.records_in} | {s.records_out} | {s.failed} | {s.skipped} | "
                     f"{s.calls.new} | {s.calls.cached} |")
    if removed_by_filter:
        lines += ["", "Not selectable: " + ", ".join(f"{k}: {v}" for k, v in sorted(removed_by_filter.items()))]
    lines += ["", "## Categories", ""] + _table(("category", "samples"), by_category, total)
    lines += ["", "## Sources", ""] + _table(("source", "samples"), by_source, total)
    lines += ["", "## Scores", "", "| criterion | " + " | ".join(str(v) for v in range(11)) + " |",
              "|---|" + "---:|" * 11]
    for key in SCORE_KEYS:
        counts = Counter((r.score or {}).get(key) for r in records)
        lines.append(f"| {key} | " + " | ".join(str(counts.get(v, 0)) for v in range(11)) + " |")
    return "\n".join(lines) + "\n"


def prompt_set_line(pack) -> str:
    """Which prompts and policies made the data: the reference's (upstream commit and hash) or
    the project's policy pack."""
    if getattr(pack, "kind", None) == "reference":
        return (f"- prompt set: **paper** — the STAR-1 reference prompts and policies, "
                f"{pack.describe()['upstream']}@{pack.commit[:7]}, hash `{pack.hash}`")
    return f"- prompt set: star1 — policy pack `{pack.name}` v{pack.version}, hash `{pack.hash}`"


def _engine_name(spec) -> str:
    from star1.engines import parse_engine

    return parse_engine(spec).engine_string()


def write_dataset_card(path: Path, records: list[Record], summary, config, pack, command_line: str,
                       removed_by_filter: dict[str, int]) -> None:
    write_text_atomic(path, card_text(records, summary, config, pack, command_line, removed_by_filter))
