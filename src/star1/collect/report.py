"""The collect report: a JSON document and the tables printed at the end of a run."""

from __future__ import annotations

from star1.collect.config import CollectConfig
from star1.collect.pipeline import STEPS, CollectResult

STEP_TITLES = {
    "loaded": "loaded",
    "self_ngram": "1 self n-gram",
    "decontam_ngram": "2 decon n-gram",
    "tfidf_cross": "3 TF-IDF vs decon + earlier sources",
    "pool_tfidf": "4a pool TF-IDF",
    "pool_embedding": "4b pool embedding",
    "decontam_embedding": "5 decon embedding",
    "final": "final",
}
SHORT_TITLES = {"loaded": "loaded", "self_ngram": "1", "decontam_ngram": "2", "tfidf_cross": "3",
                "pool_tfidf": "4a", "pool_embedding": "4b", "decontam_embedding": "5", "final": "final"}
MAX_MALFORMED_EXAMPLES = 5


def build_report(result: CollectResult, config: CollectConfig) -> dict:
    sources = []
    for src in result.sources:
        sources.append({
            "key": src.key, "name": src.name, "status": src.status, "ngram": src.ngram,
            "files": src.files, "missing": [m.__dict__ for m in src.missing], "rows": src.rows,
            "excluded_by_source_rule": src.excluded, "malformed": len(src.malformed),
            "malformed_examples": [{"file": m.file, "row": m.row, "reason": m.reason}
                                   for m in src.malformed[:MAX_MALFORMED_EXAMPLES]],
            "counts": result.counts.get(src.name, {}),
        })
    totals = {step: sum(c.get(step, 0) for c in result.counts.values()) for step in STEPS
              if any(step in c for c in result.counts.values())}
    by_status = {status: [s["name"] for s in sources if s["status"] == status]
                 for status in ("loaded", "partial", "unavailable")}
    return {
        "config": config.model_dump(mode="json"),
        "summary": {"sources": len(sources), **{k: len(v) for k, v in by_status.items()},
                    "not_loaded": by_status["partial"] + by_status["unavailable"],
                    "decontamination_prompts": sum(len(d.prompts) for d in result.decontamination),
                    "prompts": len(result.records)},
        "sources": sources,
        "decontamination": [{"key": d.key, "status": d.status, "prompts": len(d.prompts), "detail": d.detail}
                            for d in result.decontamination],
        "totals": totals,
        "removed": result.removed,
        "examples": {step: [r.to_dict() for r in rows] for step, rows in result.examples.items()},
        "embedding": result.embedding_stats,
        "timings_s": {k: round(v, 2) for k, v in result.timings.items()},
    }


def _short(text: str | None, width: int = 70) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[:width - 1] + "…"


def print_report(report: dict, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    steps = [st for st in STEPS if st in report["totals"]]
    caption = "; ".join(f"{SHORT_TITLES[st]} = {STEP_TITLES[st]}" for st in steps[1:-1])
    table = Table(title="star1 collect: prompts left after each filter", caption=caption, show_footer=True)
    table.add_column("source", footer="total", no_wrap=True)
    for step in steps:
        table.add_column(SHORT_TITLES[step], justify="right", footer=str(report["totals"][step]))
    for src in report["sources"]:
        if src["status"] == "unavailable":
            continue
        name = src["name"] + (" (partial)" if src["status"] == "partial" else "")
        table.add_row(escape(name), *(str(src["counts"].get(step, "-")) for step in steps))
    console.print(table)

    for src in report["sources"]:
        if src["status"] != "loaded":
            what = "unavailable" if src["status"] == "unavailable" else "partly unavailable"
            parts = src["missing"]
            reason = parts[0]["reason"]
            expected = ", ".join(" or ".join(m["expected"]) for m in parts[:2])
            more = f" (+{len(parts) - 2} more files)" if len(parts) > 2 else ""
            console.print(f"[yellow]{escape(src['name'])}: {what}[/yellow] - {escape(reason)}; "
                          f"expected {escape(expected)}{more}", highlight=False)
        if src["malformed"]:
            console.print(f"[yellow]{escape(src['name'])}: {src['malformed']} malformed rows skipped[/yellow]")
            for ex in src["malformed_examples"]:
                console.print(f"  {ex['file']}, row {ex['row']}: {ex['reason']}", markup=False, highlight=False)
    for d in report["decontamination"]:
        if d["detail"]:
            console.print(f"[yellow]decontamination set {escape(d['key'])}[/yellow]: {escape(d['detail'])}",
                          highlight=False)

    shown = [(step, row) for step, rows in report["examples"].items() for row in rows]
    if shown:
        console.print("[bold]examples of removed prompts[/bold]")
    for step, row in shown:
        why = (f"similarity {row['similarity']:.3f}" if "similarity" in row
               else f"shared n-gram \"{_short(row.get('ngram'), 60)}\"")
        console.print(f"[cyan]{STEP_TITLES[step]}[/cyan] ({escape(why)})\n"
                      + escape(f"  removed  [{row['source']}] {_short(row['question'], 100)}\n"
                               f"  matched  [{row.get('matched_source')}] {_short(row.get('matched'), 100)}"),
                      highlight=False)

    summary = report["summary"]
    partial = f", {summary['partial']} partly" if summary["partial"] else ""
    decon = ", ".join(f"{d['key']} {d['prompts']}" for d in report["decontamination"]) or "none (--no-decontaminate)"
    protocol = "; protocol paper" if report["config"].get("protocol") == "paper" else ""
    console.print(f"{summary['loaded']} of {summary['sources']} sources loaded{partial}; "
                  f"decontaminated against {decon}{protocol}", highlight=False)
    if not summary["prompts"]:
        console.print("[yellow]no prompts collected[/yellow]: every selected source was unavailable, empty "
                      "or filtered out (see above)", highlight=False)
