"""Build the judges a run asks for, on the engines of the one :class:`~star1.engines.EnginePool`.

A judge that names the model under test, however it is spelt (``bundled``, ``{kind: bundled}``,
a mapping in the config file), is the same pooled engine and the same cache identity, and its
results say ``self_judged``.
"""

from __future__ import annotations

from star1.engines import EnginePool
from star1.engines.config import EngineConfig
from star1.engines.pool import BUNDLED_NOTE, same_model
from star1.eval.judges.keyword import KeywordRefusalJudge, KeywordSafetyProxy
from star1.eval.judges.llama_guard import LlamaGuardJudge
from star1.eval.judges.refusal import RefusalJudge
from star1.eval.settings import KEYWORD

SAFETY_NAMESPACE = "eval-judge-safety"
REFUSAL_NAMESPACE = "eval-judge-refusal"


def is_engine(spec) -> bool:
    """An LLM judge (not the keyword rules, not left out)."""
    return spec not in (None, KEYWORD)


def _annotate(judge, config: EngineConfig, model: EngineConfig | None):
    info = judge.describe()
    if config.kind == "bundled":
        info["note"] = f"{info.get('note', '')}; {BUNDLED_NOTE}".lstrip("; ")
    if same_model(config, model):
        info["self_judged"] = True
    judge.info = info
    return judge


def _keyword(judge):
    judge.info = judge.describe()
    return judge


def make_safety_judge(spec, pool: EnginePool, model=None, mode: str = "auto", retries: int = 2,
                      max_tokens: int | None = None, paper: bool = False):
    """``paper``: ask and read as the STAR-1 reference does (see :mod:`.judges.llama_guard`)."""
    if not is_engine(spec):
        return _keyword(KeywordSafetyProxy())
    config = pool.config(spec)
    judge = LlamaGuardJudge(pool.cached(config, SAFETY_NAMESPACE), mode=mode, retries=retries,
                            max_tokens=max_tokens, paper=paper)
    return _annotate(judge, config, pool.config(model) if model is not None else None)


def make_refusal_judge(spec, pool: EnginePool, model=None, retries: int = 2,
                       max_tokens: int | None = None, paper: bool = False, local_dir=None):
    """``paper``: the reference's REFUSAL_EVAL_PROMPT (read from the upstream eval script in
    ``local_dir`` / ``$STAR1_DATA_DIR`` or the pinned download, hash-checked) and its reading."""
    if not is_engine(spec):
        return _keyword(KeywordRefusalJudge())
    prompt = version = None
    if paper:
        from star1.prompts.reference import load_reference_prompts

        reference = load_reference_prompts(local_dir)
        prompt = reference.refusal_eval_prompt
        version = reference.template_version("REFUSAL_EVAL_PROMPT")
    config = pool.config(spec)
    judge = RefusalJudge(pool.cached(config, REFUSAL_NAMESPACE), retries=retries, max_tokens=max_tokens,
                         reference_prompt=prompt, prompt_version=version)
    return _annotate(judge, config, pool.config(model) if model is not None else None)
