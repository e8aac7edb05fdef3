"""Under ``--protocol paper`` the safety judges see exactly the reference's text: vLLM's raw
generation, stripped (gen.py keeps ``resp_out.outputs[i].text.strip()``). For an R1 distill the
prompt already opened the think block, so that text starts inside it, with no ``<think>`` tag.

The expected judge requests are composed here from the upstream eval script: ``llama_guard_modurate``
(the conversation it builds, read from its ``chat`` list with ast) and ``REFUSAL_EVAL_PROMPT``.
"""

from __future__ import annotations

import ast
import csv
import json

from star1.cli import main
from star1.testing.openai_server import OpenAIStubServer, Reply

MODEL_LIST = [{"id": "distill", "object": "model", "owned_by": "vllm", "max_model_len": 65536}]

# (what the server sends, the raw generation vLLM's LLM.generate would have returned)
GENERATIONS = [
    # the reasoning inline: the server did not split it
    (Reply(content="Okay, the user asks for harm.\n</think>\n\nI can't help with that. [k=0]"),
     "Okay, the user asks for harm.\n</think>\n\nI can't help with that. [k=0]"),
    # split by the server's reasoning parser (vLLM --reasoning-parser deepseek_r1)
    (Reply(reasoning_content="Let me think.\n", content="\n\nNo, sorry. [k=1]"),
     "Let me think.\n</think>\n\nNo, sorry. [k=1]"),
    # cut at the token limit inside the reasoning: no closing tag at all
    (Reply(content="Hmm, this is about [k=2] and then", finish_reason="length"),
     "Hmm, this is about [k=2] and then"),
]


def _tag(text: str) -> int:
    return int(text.rsplit("[k=", 1)[1][0])


def guard_conversation(shared_data, instruction: str, response: str) -> list[dict]:
    """llama_guard_modurate's chat list, filled as its parameters would be."""
    source = (shared_data / "star1_reference" / "safe_benchmark_eval.py").read_text(encoding="utf-8")
    fn = next(n for n in ast.walk(ast.parse(source))
              if isinstance(n, ast.FunctionDef) and n.name == "llama_guard_modurate")
    chat = next(n.value for n in fn.body if isinstance(n, ast.Assign) and n.targets[0].id == "chat")
    bound = {"instruction": instruction, "response": response}
    return [{k.value: bound[v.id] if isinstance(v, ast.Name) else v.value for k, v in zip(d.keys, d.values)}
            for d in chat.elts]


def test_safety_judge_sees_the_raw_generation(tmp_path, shared_data, monkeypatch):
    with open(shared_data / "strongreject" / "strongreject_dataset.csv", newline="", encoding="utf-8") as fh:
        prompts = [row["forbidden_prompt"] for row in csv.DictReader(fh)][:3]

    def model(body, number):
        return GENERATIONS[prompts.index(body["messages"][0]["content"])][0]

    def guard(body, number):
        return Reply(content="safe")

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    out = tmp_path / "run"
    with OpenAIStubServer(model, models=MODEL_LIST) as served, OpenAIStubServer(guard) as judge:
        code = main(["eval", "--protocol", "paper", "--benchmarks", "strongreject", "--limit", "3",
                     "--model", f"openai:distill@{served.base_url}?max_retries=0",
                     "--safety-judge", f"openai:meta-llama/Llama-Guard-3-8B@{judge.base_url}?max_retries=0",
                     "--out", str(out), "--local-dir", str(shared_data), "-q"])
        model_bodies, judge_bodies = list(served.requests), list(judge.requests)
    assert code == 0
    expected = sorted(json.dumps(guard_conversation(shared_data, prompts[i], raw)) for i, (_, raw) in
                      enumerate(GENERATIONS))
    assert sorted(json.dumps(b["messages"]) for b in judge_bodies) == expected
    for body in model_bodies:  # gen.py's sampling: greedy, top_p 1, repetition penalty 1.2, 8,000 tokens
        assert (body["temperature"], body["top_p"], body["repetition_penalty"], body["max_tokens"]) == (0, 1, 1.2, 8000)
        assert "seed" not in body
    items = [json.loads(line) for line in (out / "items" / "strongreject.jsonl").read_text().splitlines()]
    assert sorted(r["response"] for r in items) == sorted(raw for _, raw in GENERATIONS)
    assert not any(r["response"].startswith("<think>") for r in items)


def test_star1_protocol_keeps_its_own_layout(tmp_path, shared_data, monkeypatch):
    """The default protocol stores the STAR-1 layout, with the tag: the difference paper removes."""
    with open(shared_data / "strongreject" / "strongreject_dataset.csv", newline="", encoding="utf-8") as fh:
        prompts = [row["forbidden_prompt"] for row in csv.DictReader(fh)][:1]
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    out = tmp_path / "run"
    with OpenAIStubServer(lambda body, n: GENERATIONS[0][0], models=MODEL_LIST) as served:
        assert main(["eval", "--benchmarks", "strongreject", "--limit", "1",
                     "--model", f"openai:distill@{served.base_url}?max_retries=0",
                     "--out", str(out), "--local-dir", str(shared_data), "-q"]) == 0
    record = json.loads((out / "items" / "strongreject.jsonl").read_text().splitlines()[0])
    assert record["response"].startswith("<think>\nOkay") and prompts
