"""``star1 judge-check``: how well a judge agrees with human labels (accuracy, Cohen's kappa, confusion).

The labels file (CSV or JSONL) has columns ``prompt, response, label``. Labels decide the judge
type: ``safe | unsafe`` checks a safety judge, ``full_compliance | full_refusal |
partial_refusal`` a refusal judge. Rows the judge could not answer are reported as unjudged and
left out of accuracy and kappa (the confusion matrix shows them in their own column).

With ``protocol: paper`` the judge asks and reads as the STAR-1 reference does (the Llama-Guard
conversation read as ``'unsafe' in output``; the reference's XSTest prompt), as ``star1 eval
--protocol paper`` judges.
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from star1.engines import CallCache, EnginePool
from star1.engines.pool import resolve_role
from star1.eval.judges.refusal import REFUSAL_LABELS
from star1.eval.judging import make_refusal_judge, make_safety_judge
from star1.eval.settings import JudgeCheckSettings
from star1.io import InputError, read_rows, write_rows
from star1.paths import cache_dir

SAFETY_LABELS = ("safe", "unsafe")
UNJUDGED = "unjudged"
COLUMNS = ("prompt", "response", "label")


@dataclass
class JudgeCheck:
    judge: str
    judge_kind: str
    labels_file: str
    label_set: tuple[str, ...]
    n: int
    judged: int
    accuracy: float | None
    kappa: float | None
    confusion: dict[str, dict[str, int]]  # human label -> judge label (or "unjudged") -> count
    predictions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = dict(self.__dict__)
        data.pop("predictions")
        data["unjudged"] = self.n - self.judged
        return data


def read_labels(path: str | Path) -> tuple[list[dict], tuple[str, ...]]:
    """Rows of a labels file and the label set they use; bad rows raise InputError (file, line, field)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        if not path.exists():
            raise InputError(path, "file not found")
        try:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                rows = [(i, row) for i, row in enumerate(csv.DictReader(fh), start=2)]
        except UnicodeDecodeError as exc:
            raise InputError(path, f"not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
        except (OSError, csv.Error) as exc:
            raise InputError(path, f"cannot be read as CSV ({exc})") from None
    else:
        rows = read_rows(path)
    if not rows:
        raise InputError(path, "the file holds no labelled rows")
    for line, row in rows:
        for column in COLUMNS:
            if not isinstance(row.get(column), str) or (column == "label" and not row[column].strip()):
                raise InputError(path, "missing or not text", line=line, field=column)
    first_line, first = rows[0]
    label = first["label"].strip().lower()
    label_set = SAFETY_LABELS if label in SAFETY_LABELS else REFUSAL_LABELS
    if label not in label_set:
        raise InputError(path, f"unknown label {first['label']!r}; use {' | '.join(SAFETY_LABELS)} "
                               f"or {' | '.join(REFUSAL_LABELS)}", line=first_line, field="label")
    for line, row in rows:
        if row["label"].strip().lower() not in label_set:
            raise InputError(path, f"label {row['label']!r} is not one of {', '.join(label_set)} "
                                   "(all rows must use the same label set)", line=line, field="label")
    return [{**row, "label": row["label"].strip().lower()} for _, row in rows], label_set


def agreement(human: list[str], predicted: list[str], label_set: tuple[str, ...]) -> tuple[
        float | None, float | None, dict[str, dict[str, int]]]:
    """Accuracy and Cohen's kappa over judged rows, and the full confusion matrix."""
    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import cohen_kappa_score

    confusion = {h: {p: 0 for p in (*label_set, UNJUDGED)} for h in label_set}
    for h, p in zip(human, predicted):
        confusion[h][p] += 1
    pairs = [(h, p) for h, p in zip(human, predicted) if p != UNJUDGED]
    if not pairs:
        return None, None, confusion
    accuracy = sum(h == p for h, p in pairs) / len(pairs)
    with warnings.catch_warnings():
        # One label on both sides leaves kappa undefined: reported as None below, not warned about.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        kappa = float(cohen_kappa_score([h for h, _ in pairs], [p for _, p in pairs], labels=list(label_set)))
    return round(accuracy, 6), (None if math.isnan(kappa) else round(kappa, 6)), confusion


def run_judge_check(settings: JudgeCheckSettings, labels_path: str | Path,
                    out: str | Path | None = None) -> JudgeCheck:
    """Ask the judge of ``settings`` about every labelled row; write the predictions to ``out``."""
    if settings.judge is None:
        resolve_role("judge", None, how="--judge ENGINE (or 'judge:' in the config), or --judge "
                                        "keyword for the refusal-keyword rules")
    rows, label_set = read_labels(labels_path)
    paper = settings.protocol == "paper"
    cache_path = Path(settings.cache) if settings.cache else cache_dir() / "judge-check.sqlite"
    # As in star1 eval: a reply cut at the token limit is still a reply to read.
    with CallCache(cache_path) as cache, EnginePool(cache, length_is_failure=False) as pool:
        if label_set == SAFETY_LABELS:
            judge = make_safety_judge(settings.judge, pool, mode=settings.safety_judge_format,
                                      retries=settings.retries(), paper=paper)
        else:
            judge = make_refusal_judge(settings.judge, pool, retries=settings.retries(),
                                       paper=paper, local_dir=settings.local_dir)
        verdicts = judge.judge([(r["prompt"], r["response"]) for r in rows])
    # The keyword proxy labels refusal / compliance; against safe / unsafe labels it stands for them.
    as_safety = getattr(judge, "as_safety", {}) if label_set == SAFETY_LABELS else {}
    predicted = [as_safety.get(v.label, v.label) or UNJUDGED for v in verdicts]
    accuracy, kappa, confusion = agreement([r["label"] for r in rows], predicted, label_set)
    if out:
        write_rows(out, [{**row, "prediction": p, "judge_output": v.raw, **(
            {"evidence": v.evidence} if v.evidence else {})} for row, p, v in zip(rows, predicted, verdicts)],
                   fmt="jsonl")
    name = settings.judge if isinstance(settings.judge, str) else settings.judge.engine_string()
    return JudgeCheck(judge=name, judge_kind=judge.info["kind"], labels_file=str(labels_path),
                      label_set=label_set, n=len(rows), judged=sum(p != UNJUDGED for p in predicted),
                      accuracy=accuracy, kappa=kappa, confusion=confusion, predictions=predicted)


def print_check(check: JudgeCheck, console=None) -> None:
    from rich.markup import escape
    from rich.table import Table

    from star1.console import make_console

    console = console or make_console(stderr=False)
    acc = "-" if check.accuracy is None else f"{100 * check.accuracy:.1f}%"
    kappa = "-" if check.kappa is None else f"{check.kappa:.3f}"
    # soft_wrap: a long labels path stays on one line (the terminal may fold it; rich does not).
    console.print(escape(f"judge {check.judge} ({check.judge_kind}) on {check.labels_file}: "
                         f"{check.n} rows, {check.judged} judged, {check.n - check.judged} unjudged"),
                  soft_wrap=True)
    console.print(f"accuracy {acc}   Cohen's kappa {kappa}", soft_wrap=True)
    table = Table(title="confusion (rows: human label, columns: judge)")
    table.add_column("human \\ judge")
    columns = [*check.label_set, UNJUDGED]
    for column in columns:
        table.add_column(column, justify="right")
    for human, counts in check.confusion.items():
        table.add_row(human, *(str(counts[c]) for c in columns))
    console.print(table)
