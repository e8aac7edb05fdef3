"""STAR-benign: harmless look-alikes of the selected harmful prompts, against over-refusal.

Three steps over :class:`Record` lists, each on the same engine layer as ``star1 build``:

1. :func:`rewrite` asks a model for a harmless request with the surface of the harmful one
   ("How do I kill a Python process?"). A rewrite is rejected, and asked for again, when it is
   empty, cut at the token limit, the original again (after :func:`normalise_text`), much longer
   than the original, a refusal, the text of another record, or — with ``harm_check:
   other_only`` — labelled with any safety category by the classifier.
2. :func:`generate` gets a ``<think>`` reasoning answer with no policy in view, through the
   teacher machinery of :mod:`star1.pipeline.deliberate` (native or two-call prefill).
3. :func:`score_benign` has a judge score safety, reasoning and compliance 1–5; samples below
   the minimums (5/5/5 by default) are filtered out.

A benign record gets its own id (:func:`prompt_id` of the rewrite), ``source: "benign"``,
``category: ["Other"]`` and ``origin_id`` = the id of the harmful record it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from star1.engines import CachedEngine
from star1.pipeline.classify import ClassifyOptions, classify
from star1.pipeline.config import BenignScoreOptions, RewriteOptions
from star1.pipeline.deliberate import ReasoningOptions, reason
from star1.pipeline.prompt_sets import requests_for
from star1.pipeline.run import StageSummary
from star1.pipeline.score import judged_scores
from star1.policies import OTHER
from star1.prompts import load_template
from star1.records import Provenance, Record, join_response, prompt_id, utc_now
from star1.runner import Failure, run_stage

SOURCE = "benign"
REWRITE, CHECK, GENERATE, SCORE = "benign rewrite", "benign check", "benign generate", "benign score"


@dataclass
class StepResult:
    records: list[Record]
    failures: list[Failure]
    filtered: list[Record] = field(default_factory=list)  # scored below the minimums


@dataclass
class RewriteResult(StepResult):
    checked: int = 0  # rewrites the classifier looked at, over all attempts
    flagged: int = 0  # of those, labelled with a safety category
    check_failed: int = 0  # of those, the classifier gave no usable answer

    def check_row(self, checker: CachedEngine) -> StageSummary:
        """The harm check's own summary row."""
        return StageSummary(CHECK, self.checked, self.checked - self.flagged - self.check_failed,
                            self.check_failed, self.flagged, checker.stats)


# -- step 1: rewrite -----------------------------------------------------------------------------

def rewrite(records: list[Record], engine: CachedEngine, checker: CachedEngine | None, pack,
            options: RewriteOptions, classify_options: ClassifyOptions | None = None) -> RewriteResult:
    """One benign look-alike per record. ``checker`` is the classifier (None: no harm check;
    a prompt set whose rewrites are kept as they come — the reference's — checks nothing).

    Every rejection, the classifier's included, is answered by asking again with the next
    attempt's sampling, ``options.retries`` times at most; the last reason is recorded.
    """
    prompt_set = requests_for(pack)
    build, version = prompt_set.rewrite_requests(options)
    check = checker is not None and options.harm_check == "other_only" and prompt_set.harm_check
    # Ids in use → the input record holding them. An input's text counts too (its id may not be
    # prompt_id-based): the same question must not come back with a second, benign answer.
    owner = {key: r.id for r in records for key in (r.id, prompt_id(r.question))}
    counts = {"checked": 0, "flagged": 0, "check_failed": 0}

    def review(batch: list[tuple[int, Record, str]]) -> dict[int, str]:
        """Rewrites that repeat another record's text, or that the classifier still finds harmful."""
        rejected: dict[int, str] = {}
        candidates: list[tuple[int, str]] = []
        for i, _, text in batch:
            new_id = prompt_id(text)
            if new_id in owner or any(prompt_id(other) == new_id for _, other in candidates):
                rejected[i] = "same text as another record"
            else:
                candidates.append((i, text))
        verdicts = _harm_check(candidates, checker, prompt_set, classify_options) if check else {}
        for i, text in candidates:
            verdict = verdicts.get(i)
            if check:
                counts["checked"] += 1
                counts["flagged"] += isinstance(verdict, list)
                counts["check_failed"] += isinstance(verdict, Failure)
            if verdict is None:
                owner[prompt_id(text)] = records[i].id
            else:
                rejected[i] = (f"still harmful: the classifier labels it {verdict}" if isinstance(verdict, list)
                               else f"harm check failed: {verdict.reason}")
        return rejected

    outcomes = run_stage(REWRITE, records, engine, build,
                         lambda r, c: prompt_set.accept_rewrite(r, c, options), options.retry,
                         review=review, unusable="rejected")
    accepted = {i: o.value for i, o in enumerate(outcomes) if o.failure is None}
    failures = {i: o.failure for i, o in enumerate(outcomes) if o.failure is not None}
    out = []
    for i in sorted(accepted):
        provenance = Provenance(policy_pack=prompt_set.pack.name, policy_hash=prompt_set.pack.hash,
                                teacher=engine.name, prompt_versions={"benign_rewrite": version})
        if check:
            provenance.classifier = checker.name
            provenance.classified_at = utc_now()
            provenance.prompt_versions["classify"] = load_template("classify").version
        out.append(Record(id=prompt_id(accepted[i]), question=accepted[i], category=[OTHER], source=SOURCE,
                          origin_id=records[i].id, provenance=provenance))
    return RewriteResult(out, [failures[i] for i in sorted(failures)], **counts)


def _harm_check(candidates: list[tuple[int, str]], checker: CachedEngine, prompt_set,
                options: ClassifyOptions | None) -> dict[int, list[str] | Failure]:
    """Per candidate index: nothing when the classifier says only "Other", else its labels
    (still harmful) or its failure (could not tell, so not accepted)."""
    if not candidates:
        return {}
    ids = [prompt_id(text) for _, text in candidates]  # distinct: duplicates were re-asked
    by_id = {rid: i for rid, (i, _) in zip(ids, candidates)}
    result = classify([Record(id=rid, question=text) for rid, (_, text) in zip(ids, candidates)],
                      checker, prompt_set, options)
    verdicts: dict[int, list[str] | Failure] = {by_id[f.id]: f for f in result.failures}
    for record in result.records:
        if record.category != [OTHER]:
            verdicts[by_id[record.id]] = record.category
    return verdicts


# -- step 2: generate ----------------------------------------------------------------------------

def generate(records: list[Record], engine: CachedEngine, options: ReasoningOptions, pack=None) -> StepResult:
    """A ``<think>`` reasoning answer to each rewrite, with no policy in view (the prompt set's
    plain request: a helpful system prompt, or the reference's bare question)."""
    prompt_set = requests_for(pack)
    pairs, failures = reason(records, engine, options, prompt_set.benign_answer_messages, GENERATE)
    out = []
    for record, (reasoning, answer) in pairs:
        provenance = record.provenance.model_copy(deep=True) if record.provenance else Provenance()
        provenance.teacher = engine.name
        provenance.generated_at = utc_now()
        provenance.prompt_versions["benign_generate"] = prompt_set.benign_answer_version
        out.append(record.model_copy(update={"response": join_response(reasoning, answer),
                                             "provenance": provenance}))
    return StepResult(out, failures)


# -- step 3: score -------------------------------------------------------------------------------

def minimum_scores(options: BenignScoreOptions, pack=None) -> dict[str, int]:
    """Safety, reasoning and compliance minimums under the prompt set's key names (the
    reference's are Content_Safety_Compliance, Quality_of_Thinking_Process, Compliance_Degree)."""
    keys = requests_for(pack).benign_score_keys
    return dict(zip(keys, (options.min_safety, options.min_reasoning, options.min_compliance)))


def score_benign(records: list[Record], engine: CachedEngine, options: BenignScoreOptions, pack=None) -> StepResult:
    """Score every sample; those reaching every minimum are kept, the rest go to ``filtered``."""
    prompt_set = requests_for(pack)
    build, version = prompt_set.benign_score_requests(options)
    keys = prompt_set.benign_score_keys
    outcomes = run_stage(SCORE, records, engine, build,
                         lambda r, c: judged_scores(c, keys, prompt_set.parse_benign_scores, options.local_scoring),
                         options.retry)
    minimums = minimum_scores(options, prompt_set)
    kept, filtered, failures = [], [], []
    for record, outcome in zip(records, outcomes):
        if outcome.failure:
            failures.append(outcome.failure)
            continue
        provenance = record.provenance.model_copy(deep=True) if record.provenance else Provenance()
        provenance.judge = engine.name
        provenance.scored_at = utc_now()
        provenance.prompt_versions["benign_score"] = version
        scored = record.model_copy(update={"score": outcome.value, "provenance": provenance})
        passes = all(outcome.value[k] >= minimums[k] for k in keys)
        (kept if passes else filtered).append(scored)
    return StepResult(kept, failures, filtered)
