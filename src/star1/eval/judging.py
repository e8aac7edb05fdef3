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
                      mode: str = "auto", retries: int = 2, max_tokens: int | None = None):
    if spec in (None, KEYWORD):
        judge = KeywordSafetyProxy()
        judge.info = judge.describe()
        return judge
    engine = pool.get(spec, "eval-judge-safety")
    extra = {"max_tokens": max_tokens} if max_tokens else {}
    return _annotate(LlamaGuardJudge(engine, mode=mode, retries=retries, **extra), spec, model_spec)


def make_refusal_judge(spec: str | None, pool: EnginePool, model_spec: str | None = None,
                       retries: int = 2, max_tokens: int | None = None):
    if spec in (None, KEYWORD):
        judge = KeywordRefusalJudge()
        judge.info = judge.describe()
        return judge
    engine = pool.get(spec, "eval-judge-refusal")
    extra = {"max_tokens": max_tokens} if max_tokens else {}
    return _annotate(RefusalJudge(engine, retries=retries, **extra), spec, model_spec)
