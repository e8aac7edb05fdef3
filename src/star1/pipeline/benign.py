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

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from pydantic import ConfigDict, Field, StrictInt, create_model

from star1.engines import CachedEngine, ChatRequest, Completion, SamplingParams
from star1.engines.pool import EnginePool
from star1.parsing import ParseError, parse_model
from star1.pipeline import paper
from star1.pipeline.classify import ClassifyOptions, classify
from star1.pipeline.config import BenignScoreOptions, BenignStageOptions, RewriteOptions
from star1.pipeline.deliberate import ReasoningOptions, question_messages, reason
from star1.pipeline.score import judge_input, judged_scores, scores_choice_template
from star1.pipeline.stages import StageSummary
from star1.policies import OTHER, PolicyPack
from star1.prompts import load_template
from star1.prompts.reference import gpt4o_messages
from star1.records import Provenance, Record, join_response, normalise_text, prompt_id, utc_now
from star1.refusals import opens_with_refusal
from star1.runner import Failure, retry_sampling, run_stage

SOURCE = "benign"
REWRITE, CHECK, GENERATE, SCORE = "benign rewrite", "benign check", "benign generate", "benign score"
BENIGN_SCORE_KEYS = ("Content_Safety", "Reasoning_Quality", "Compliance")
BENIGN_SCORE_VALUES = tuple(str(v) for v in range(1, 6))

# Labels models put before the answer although told not to ("Harmless: ...").
_LABEL = re.compile(r"^(?:harmless(?: request| version| look-alike)?|look-alike|rewritten request|"
                    r"new request|rewrite)\s*:\s*", re.IGNORECASE)
_QUOTE_PAIRS = {'"': '"', "“": "”", "'": "'"}


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


# -- step 1: rewrite -----------------------------------------------------------------------------

def example_pairs() -> list[tuple[str, str]]:
    """The (harmful, harmless) example pairs shown to the rewriter as earlier chat turns."""
    text = load_template("benign_rewrite_examples").text
    pairs = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.strip().splitlines())
        pairs.append((fields["harmful"], fields["harmless"]))
    return pairs


def rewrite_requests(options: RewriteOptions, pack: PolicyPack | None = None
                     ) -> tuple[Callable[[Record, int], ChatRequest], str]:
    """The request builder and the prompt version. The examples go in as chat turns: even the
    135M bundled model then answers with a bare request, where inline examples make it chat.
    With the reference prompt set: its one user message, examples inline."""
    sampling = SamplingParams(max_tokens=options.max_tokens, temperature=options.temperature,
                              top_p=options.top_p, max_tokens_field=options.max_tokens_field)
    if paper.is_reference(pack):
        def build_reference(record: Record, attempt: int) -> ChatRequest:
            return paper.request(gpt4o_messages(paper.rewrite_prompt(pack, record)),
                                 retry_sampling(sampling, attempt))

        return build_reference, pack.template_version("REWRITE_PROMPT_TEMPLATE")
    system, user, examples = (load_template(n) for n in
                              ("benign_rewrite", "benign_rewrite_user", "benign_rewrite_examples"))
    shots: list[dict] = [{"role": "system", "content": system.fill()}]
    for harmful, harmless in example_pairs():
        shots += [{"role": "user", "content": user.fill(question=harmful)},
                  {"role": "assistant", "content": harmless}]

    def build(record: Record, attempt: int) -> ChatRequest:
        messages = shots + [{"role": "user", "content": user.fill(question=record.question)}]
        return ChatRequest(messages=tuple(messages), sampling=retry_sampling(sampling, attempt))

    return build, "+".join(t.version for t in (system, user, examples))


def clean_rewrite(text: str) -> str:
    """Strip what models wrap around the bare request: a label and enclosing quotes."""
    text = _LABEL.sub("", text.strip()).strip()
    close = _QUOTE_PAIRS.get(text[:1])
    # '"A" or "B"' is quoted inside, not wrapped; an apostrophe inside '...' is fine.
    if close and len(text) >= 2 and text[-1] == close and (close == "'" or close not in text[1:-1]):
        text = text[1:-1].strip()
    return text


def check_rewrite(original: Record, completion: Completion, options: RewriteOptions) -> str:
    """The cleaned rewrite, or :class:`ParseError` saying why it cannot be used."""
    if completion.finish_reason == "length" and not options.allow_truncated:
        raise ParseError(f"cut at max_tokens={options.max_tokens}")
    text = clean_rewrite(completion.text)
    if not text:
        raise ParseError("empty rewrite")
    if normalise_text(text) == normalise_text(original.question):
        raise ParseError("identical to the original")
    limit = max(options.max_length_floor, int(options.max_length_ratio * len(original.question)))
    if len(text) > limit:
        raise ParseError(f"too long: {len(text)} characters, limit {limit}")
    if opens_with_refusal(text):
        raise ParseError("a refusal, not a request")
    return text


def rewrite(records: list[Record], engine: CachedEngine, checker: CachedEngine | None, pack: PolicyPack,
            options: RewriteOptions, classify_options: ClassifyOptions | None = None,
            show_progress: bool = True) -> RewriteResult:
    """One benign look-alike per record. ``checker`` is the classifier (None: no harm check).

    Every rejection, the classifier's included, is answered by asking again with the next
    attempt's sampling, ``options.retries`` times at most; the last reason is recorded.
    """
    build, version = rewrite_requests(options, pack)
    reference = paper.is_reference(pack)
    # The reference keeps whatever its rewriter says (rewriter.py:71): no harm check, no filters.
    check = checker is not None and options.harm_check == "other_only" and not reference
    accept = (lambda r, c: paper.accept_rewrite(c)) if reference else (lambda r, c: check_rewrite(r, c, options))
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
        verdicts = _harm_check(candidates, checker, pack, classify_options, show_progress) if check else {}
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

    # A failed call was retried by the engine already; a rewrite cut at the token limit is asked
    # again, since a resampled one may well be shorter.
    outcomes = run_stage(REWRITE, records, lambda r: r.id, engine, build, accept, retries=options.retries,
                         show_progress=show_progress, retry_on=("unparseable", "truncated"),
                         review=review, unusable="rejected")
    accepted = {i: o.value for i, o in enumerate(outcomes) if o.failure is None}
    failures = {i: o.failure for i, o in enumerate(outcomes) if o.failure is not None}
    out = []
    for i in sorted(accepted):
        provenance = Provenance(policy_pack=pack.name, policy_hash=pack.hash, teacher=engine.name,
                                prompt_versions={"benign_rewrite": version})
        if check:
            provenance.classifier = checker.name
            provenance.classified_at = utc_now()
            provenance.prompt_versions["classify"] = load_template("classify").version
        out.append(Record(id=prompt_id(accepted[i]), question=accepted[i], category=[OTHER], source=SOURCE,
                          origin_id=records[i].id, provenance=provenance))
    return RewriteResult(out, [failures[i] for i in sorted(failures)], **counts)


def _harm_check(candidates: list[tuple[int, str]], checker: CachedEngine, pack: PolicyPack,
                options: ClassifyOptions | None, show_progress: bool) -> dict[int, list[str] | Failure]:
    """Per candidate index: nothing when the classifier says only "Other", else its labels
    (still harmful) or its failure (could not tell, so not accepted)."""
    if not candidates:
        return {}
    ids = [prompt_id(text) for _, text in candidates]  # distinct: duplicates were re-asked
    by_id = {rid: i for rid, (i, _) in zip(ids, candidates)}
    result = classify([Record(id=rid, question=text) for rid, (_, text) in zip(ids, candidates)],
                      checker, pack, options, show_progress)
    verdicts: dict[int, list[str] | Failure] = {by_id[f.id]: f for f in result.failures}
    for record in result.records:
        if record.category != [OTHER]:
            verdicts[by_id[record.id]] = record.category
    return verdicts


# -- step 2: generate ----------------------------------------------------------------------------

def generate(records: list[Record], engine: CachedEngine, options: ReasoningOptions,
             show_progress: bool = True, pack: PolicyPack | None = None) -> StepResult:
    """A ``<think>`` reasoning answer to each rewrite, with a plain helpful system prompt (the
    reference prompt set: the bare question, overrefusal_ablation/reasoning_generation/reasoning_generation.py:54)."""
    if paper.is_reference(pack):
        messages, version = question_messages(None), "reference:question-only"
    else:
        template = load_template("benign_generate")
        messages, version = question_messages(template.fill()), template.version
    pairs, failures = reason(records, engine, options, messages, GENERATE, show_progress)
    out = []
    for record, (reasoning, answer) in pairs:
        provenance = record.provenance.model_copy(deep=True) if record.provenance else Provenance()
        provenance.teacher = engine.name
        provenance.generated_at = utc_now()
        provenance.prompt_versions["benign_generate"] = version
        out.append(record.model_copy(update={"response": join_response(reasoning, answer),
                                             "provenance": provenance}))
    return StepResult(out, failures)


# -- step 3: score -------------------------------------------------------------------------------

_BenignScores = create_model(
    "_BenignScores", __config__=ConfigDict(extra="forbid"),
    **{key: (StrictInt, Field(ge=1, le=5)) for key in BENIGN_SCORE_KEYS})


def parse_benign_scores(text: str) -> dict[str, int]:
    """Exactly the three keys, each a whole number 1–5; anything else is a :class:`ParseError`."""
    return parse_model(text, _BenignScores).model_dump()


def benign_score_keys(pack: PolicyPack | None = None) -> tuple[str, ...]:
    return paper.OVERREFUSAL_KEYS if paper.is_reference(pack) else BENIGN_SCORE_KEYS


def benign_score_requests(options: BenignScoreOptions, pack: PolicyPack | None = None):
    if paper.is_reference(pack):
        sampling = SamplingParams(max_tokens=options.max_tokens, temperature=options.temperature,
                                  top_p=options.top_p, max_tokens_field=options.max_tokens_field)
        choices = paper.scores_choices(paper.OVERREFUSAL_KEYS, BENIGN_SCORE_VALUES)

        def build_reference(record: Record, attempt: int) -> ChatRequest:
            return paper.request(gpt4o_messages(paper.overrefusal_scorer_prompt(pack, record)),
                                 retry_sampling(sampling, attempt), choices=choices)

        return build_reference, pack.template_version("OVERREFUSAL_SCORER_PROMPT_TEMPLATE")
    template, user_template = load_template("benign_score"), load_template("score_user")
    schema = {"type": "object", "additionalProperties": False, "required": list(BENIGN_SCORE_KEYS),
              "properties": {k: {"type": "integer", "minimum": 1, "maximum": 5} for k in BENIGN_SCORE_KEYS}}
    choices = scores_choice_template(BENIGN_SCORE_KEYS, BENIGN_SCORE_VALUES)
    sampling = SamplingParams(max_tokens=options.max_tokens, temperature=options.temperature,
                              top_p=options.top_p, max_tokens_field=options.max_tokens_field)
    system = template.fill()

    def build(record: Record, attempt: int) -> ChatRequest:
        user = judge_input(user_template, record)
        return ChatRequest.chat(user, system=system, sampling=retry_sampling(sampling, attempt),
                                json_schema=schema, choices=choices)

    return build, f"{template.version}+{user_template.version}"


def minimum_scores(options: BenignScoreOptions, pack: PolicyPack | None = None) -> dict[str, int]:
    """Safety, reasoning and compliance minimums under the prompt set's key names (the
    reference's are Content_Safety_Compliance, Quality_of_Thinking_Process, Compliance_Degree)."""
    return dict(zip(benign_score_keys(pack), (options.min_safety, options.min_reasoning, options.min_compliance)))


def score_benign(records: list[Record], engine: CachedEngine, options: BenignScoreOptions,
                 show_progress: bool = True, pack: PolicyPack | None = None) -> StepResult:
    """Score every sample; those reaching every minimum are kept, the rest go to ``filtered``."""
    build, version = benign_score_requests(options, pack)
    keys = benign_score_keys(pack)
    parse_text = (partial(paper.parse_fenced_scores, keys=keys, low=1, high=5)
                  if paper.is_reference(pack) else parse_benign_scores)
    outcomes = run_stage(SCORE, records, lambda r: r.id, engine, build,
                         lambda r, c: judged_scores(c, keys, parse_text, options.local_scoring),
                         retries=options.retries, show_progress=show_progress,
                         retry_on=options.retry_on)
    minimums = minimum_scores(options, pack)
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


# -- all three -----------------------------------------------------------------------------------

@dataclass
class BenignEngines:
    """One cached engine per step (each its own namespace and call counts)."""

    rewriter: CachedEngine
    classifier: CachedEngine | None  # None: no harm check
    generator: CachedEngine
    judge: CachedEngine


@dataclass
class BenignRun:
    records: list[Record]
    failures: list[Failure]
    steps: list[StageSummary]


def benign_engines(pool: EnginePool, pack: PolicyPack, teacher, classifier, judge,
                   options: BenignStageOptions) -> BenignEngines:
    check = options.rewrite.harm_check == "other_only"
    return BenignEngines(
        rewriter=pool.cached(teacher, "benign-rewrite", pack),
        # The harm check asks exactly what classification asks, so it shares that namespace.
        classifier=pool.cached(classifier, "classify", pack) if check else None,
        generator=pool.cached(teacher, "benign-generate", pack),
        judge=pool.cached(judge, "benign-score", pack))


def run_benign(records: list[Record], engines: BenignEngines, pack: PolicyPack,
               options: BenignStageOptions, show_progress: bool = True) -> BenignRun:
    """Rewrite → generate → score, with a summary row per step (the harm check is its own row)."""
    rewritten = rewrite(records, engines.rewriter, engines.classifier, pack, options.rewrite,
                        options.classify, show_progress)
    steps = [StageSummary(REWRITE, len(records), len(rewritten.records), len(rewritten.failures), 0,
                          engines.rewriter.stats)]
    if engines.classifier is not None:
        r = rewritten
        steps.append(StageSummary(CHECK, r.checked, r.checked - r.flagged - r.check_failed, r.check_failed,
                                  r.flagged, engines.classifier.stats))
    answered = generate(rewritten.records, engines.generator, options.generate, show_progress, pack)
    steps.append(StageSummary(GENERATE, len(rewritten.records), len(answered.records),
                              len(answered.failures), 0, engines.generator.stats))
    scored = score_benign(answered.records, engines.judge, options.score, show_progress, pack)
    steps.append(StageSummary(SCORE, len(answered.records), len(scored.records), len(scored.failures),
                              len(scored.filtered), engines.judge.stats))
    # Failures name the harmful input: the id of a benign sample that never got written is no lead.
    origin = {r.id: r.origin_id for r in rewritten.records}
    later = [dataclasses.replace(f, id=origin.get(f.id, f.id)) for f in answered.failures + scored.failures]
    return BenignRun(scored.records, rewritten.failures + later, steps)
