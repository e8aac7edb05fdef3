"""Build the judges a run asks for, sharing one loaded engine per engine string."""

from __future__ import annotations

from star1.engines import CachedEngine, CallCache, make_engine
from star1.eval.judges.keyword import KeywordRefusalJudge, KeywordSafetyProxy
from star1.eval.judges.llama_guard import LlamaGuardJudge
from star1.eval.judges.refusal import RefusalJudge

KEYWORD = "keyword"
BUNDLED_NOTE = ("the bundled SmolLM2-135M-Instruct is the judge: this exercises the pipeline, "
                "its verdicts are not a trustworthy safety measurement")


class EnginePool:
    """Engines by engine string, created on first use; every use goes through the call cache."""

    def __init__(self, cache: CallCache, batch_size: int | None = None):
        self.cache = cache
        self.batch_size = batch_size
        self._engines: dict[str, object] = {}

    def get(self, spec: str, namespace: str) -> CachedEngine:
        if spec not in self._engines:
            overrides = {"length_is_failure": False}  # a cut-off answer is still an answer to score
            if self.batch_size:
                overrides["batch_size"] = self.batch_size
            self._engines[spec] = make_engine(spec, **overrides)
        return CachedEngine(self._engines[spec], self.cache, namespace)

    def release(self, spec: str) -> None:
        engine = self._engines.pop(spec, None)
        if engine is not None:
            engine.close()

    def close(self) -> None:
        for spec in list(self._engines):
            self.release(spec)


def _annotate(judge, spec: str, model_spec: str | None):
    info = judge.describe()
    if spec == "bundled":
        info["note"] = f"{info.get('note', '')}; {BUNDLED_NOTE}".lstrip("; ")
    if model_spec and spec == model_spec:
        info["self_judged"] = True
    judge.info = info
    return judge


def make_safety_judge(spec: str | None, pool: EnginePool, model_spec: str | None = None,
                      mode: str = "auto", retries: int = 2, max_tokens: int | None = None,
                      paper: bool = False):
    """``paper``: ask and read as the STAR-1 reference does (see :mod:`.judges.llama_guard`)."""
    if spec in (None, KEYWORD):
        judge = KeywordSafetyProxy()
        judge.info = judge.describe()
        return judge
    engine = pool.get(spec, "eval-judge-safety")
    judge = LlamaGuardJudge(engine, mode=mode, retries=retries, max_tokens=max_tokens, paper=paper)
    return _annotate(judge, spec, model_spec)


def make_refusal_judge(spec: str | None, pool: EnginePool, model_spec: str | None = None,
                       retries: int = 2, max_tokens: int | None = None, paper: bool = False,
                       local_dir=None):
    """``paper``: the reference's REFUSAL_EVAL_PROMPT (read from the upstream eval script in
    ``local_dir`` / ``$STAR1_DATA_DIR`` or the pinned download, hash-checked) and its reading."""
    if spec in (None, KEYWORD):
        judge = KeywordRefusalJudge()
        judge.info = judge.describe()
        return judge
    prompt = version = None
    if paper:
        from star1.prompts.reference import load_reference_prompts

        reference = load_reference_prompts(local_dir)
        prompt = reference.refusal_eval_prompt
        version = reference.template_version("REFUSAL_EVAL_PROMPT")
    engine = pool.get(spec, "eval-judge-refusal")
    judge = RefusalJudge(engine, retries=retries, max_tokens=max_tokens, reference_prompt=prompt,
                         prompt_version=version)
    return _annotate(judge, spec, model_spec)
