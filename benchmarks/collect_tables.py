"""Render the collect benchmark results (JSON) as the markdown tables of docs/benchmarks.md.

    python benchmarks/collect_tables.py benchmarks/results/collect_compare.json benchmarks/results/collect_scale.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

STEP_NAMES = {
    "self_ngram": "1 self 5-gram", "decontam_ngram": "2 decon 8-gram", "tfidf_cross": "3 TF-IDF vs decon",
    "pool_tfidf": "4a greedy TF-IDF", "pool_embedding": "4b greedy embedding",
    "decontam_embedding": "5 embedding vs decon",
}


def _f(x, digits=2):
    return "n/a" if x is None else f"{x:.{digits}f}"


def compare_table(data: dict) -> str:
    lines = ["| N | step | dense: median s | dense: peak RSS MB | star1: median s | star1: peak RSS MB "
             "| speed-up | same decisions |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in data["runs"]:
        if "dense" not in row:
            continue
        d, s = row["dense"], row["star1"]
        speed = d["wall_s_median"] / s["wall_s_median"] if d["wall_s_median"] and s["wall_s_median"] else None
        agree = f"{s['agreement'] * 100:.3f}% ({s['decisions_differing']} differ)" if "agreement" in s else "n/a"
        lines.append(f"| {row['n']:,} | {STEP_NAMES[row['step']]} | {_f(d['wall_s_median'])} | {_f(d['peak_rss_mb'], 0)} "
                     f"| {_f(s['wall_s_median'])} | {_f(s['peak_rss_mb'], 0)} | {_f(speed, 1)}x | {agree} |")
        if "usearch" in row:
            u = row["usearch"]
            agree = f"{u['agreement'] * 100:.3f}% ({u['decisions_differing']} differ)" if "agreement" in u else "n/a"
            lines.append(f"| {row['n']:,} | 4b, star1 with usearch candidates | | | {_f(u['wall_s_median'])} "
                         f"| {_f(u['peak_rss_mb'], 0)} | {_f(d['wall_s_median'] / u['wall_s_median'], 1)}x | {agree} |")
    return "\n".join(lines)


def embedding_rows(data: dict) -> str:
    lines = []
    for row in data["runs"]:
        if "embedding" in row and row["embedding"]["computed"]:
            e = row["embedding"]
            lines.append(f"- pool N={row['n']:,}: {e['computed']:,} new sentences embedded in {e['compute_s']:.0f} s "
                         f"= {e['computed'] / e['compute_s']:.1f} sentences/s")
    return "\n".join(lines)


def scale_table(data: dict) -> str:
    lines = ["| raw prompts | all but embedding, median s (warm) | peak RSS MB | after 1 / 2 / 3 / 4a / 4b / 5 "
             "| embedded (cold) | sentences/s | embedding cold s | warm s | cache saves s |",
             "|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for row in data["runs"]:
        s = row.get("summary")
        if not s:
            lines.append(f"| {row['n']:,} | failed: {row.get('cold', {}).get('error')} | | | | | | | |")
            continue
        c = s["counts"]
        kept = " / ".join(f"{c.get(k, 0):,}" for k in ("self_ngram", "decontam_ngram", "tfidf_cross", "pool_tfidf",
                                                        "pool_embedding", "decontam_embedding"))
        lines.append(f"| {row['n']:,} | {s['all_but_embedding_s_median']:.1f} | {s['peak_rss_mb_max']:.0f} | {kept} "
                     f"| {s['embedded_sentences']:,} | {s['embedding_sentences_per_s']:.1f} | {s['embed_cold_s']:.0f} "
                     f"| {s['embed_warm_s_median']:.1f} | {s['cache_saves_s']:.0f} |")
    return "\n".join(lines)


def step_table(data: dict) -> str:
    keys = ["load", "self_ngram", "tokenize", "decontam_ngram", "tfidf_cross", "pool_tfidf", "embed",
            "pool_embedding", "decontam_embedding"]
    lines = ["| raw prompts | " + " | ".join(keys) + " |", "|---:|" + "---:|" * len(keys)]
    for row in data["runs"]:
        s = row.get("summary")
        if s:
            lines.append(f"| {row['n']:,} | " + " | ".join(_f(s["step_medians_s"].get(k), 1) for k in keys) + " |")
    return "\n".join(lines)


def stress_table(data: dict) -> str:
    lines = ["| raw prompts | tokenize s | step 3 on all (vs decon) s | dropped | step 4a greedy on all s | dropped "
             "| peak RSS MB |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for row in data["runs"]:
        st = row.get("stress")
        if st and "error" not in st:
            lines.append(f"| {row['n']:,} | {st['tokenize_s']:.1f} | {st['cross_s']:.1f} | {st['cross_dropped']:,} "
                         f"| {st['greedy_s']:.1f} | {st['greedy_dropped']:,} | {st['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    compare = json.loads(Path(sys.argv[1]).read_text())
    print(compare_table(compare), "", embedding_rows(compare), "", sep="\n")
    if len(sys.argv) > 2:
        scale = json.loads(Path(sys.argv[2]).read_text())
        print(scale_table(scale), "", step_table(scale), "", stress_table(scale), sep="\n")


if __name__ == "__main__":
    main()
