"""``star1 eval --protocol paper`` asks and grades the reasoning benchmarks as the STAR-1
reference does, over real HTTP: a logging model server and a logging checker server.

Expected texts are composed here from the upstream files in
``../shared/data/star1_reference/reasoning_benchmark/`` (parsed with ast in this file, in its
own way: f-strings become ``str.format`` templates, ``%`` templates are filled with ``%``),
never from star1's code: the query templates, ``math_postproc_instruction`` and
``math_judge_instruction`` (MATH's checker), ``common.EQUALITY_TEMPLATE`` (AIME's fallback),
HumanEval's instruction, and the sampling of ``local_sampler.py``.
"""

from __future__ import annotations

import ast
import gzip
import json
import re
import shutil

import pytest

from star1.cli import main
from star1.testing.openai_server import OpenAIStubServer, Reply

MODEL_LIST = [{"id": "distill", "object": "model", "owned_by": "vllm", "max_model_len": 65536}]
CHECKER_LIST = [{"id": "gpt-4o", "object": "model", "owned_by": "system"}]


def _tree(shared_data, name):
    return ast.parse((shared_data / "star1_reference" / "reasoning_benchmark" / name).read_text("utf-8"))


def _literal(node) -> str:
    if isinstance(node, ast.Call):  # """...""".strip()
        assert node.func.attr == "strip"
        return node.func.value.value.strip()
    return node.value


def _assigned(tree, name, within=None):
    scope = ast.walk(within) if within is not None else tree.body
    values = [n.value for n in scope if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == name]
    return _literal(values[-1])


def _function(tree, name):
    return next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name)


def _return(fn):
    return next(n for n in ast.walk(fn) if isinstance(n, ast.Return)).value


def postproc_template(shared_data) -> str:
    """math_postproc_instruction's f-string as a str.format template."""
    joined = _return(_function(_tree(shared_data, "math_eval.py"), "math_postproc_instruction"))
    out = []
    for part in joined.values:
        if isinstance(part, ast.FormattedValue):
            out.append("{" + part.value.id + "}")
        else:
            out.append(part.value.replace("{", "{{").replace("}", "}}"))
    return "".join(out)


def judge_text(shared_data, pred, target) -> str:
    node = _return(_function(_tree(shared_data, "math_eval.py"), "math_judge_instruction"))
    return node.left.value % (pred, target)


def sampler_keywords(shared_data) -> dict:
    call = next(n for n in ast.walk(_tree(shared_data, "local_sampler.py"))
                if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "SamplingParams")
    return {k.arg: k.value.value for k in call.keywords if isinstance(k.value, ast.Constant)}


def _rows(path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_math_aime_humaneval_send_the_references_queries_and_checker_requests(tmp_path, shared_data, monkeypatch):
    math_rows = _rows(shared_data / "math500" / "test.jsonl")[:3]
    aime_rows = _rows(shared_data / "aime2024" / "test.jsonl")[:3]
    he_rows = _rows(shared_data / "humaneval" / "HumanEval.jsonl.gz")[:3]
    math_query = _assigned(_tree(shared_data, "math_eval.py"), "QUERY_TEMPLATE")
    aime_query = _assigned(_tree(shared_data, "aime_eval.py"), "QUERY_TEMPLATE")
    he_tree = _tree(shared_data, "humaneval_eval.py")
    instruction = _assigned(he_tree, "instruction", within=_function(he_tree, "__call__"))
    equality = _assigned(_tree(shared_data, "common.py"), "EQUALITY_TEMPLATE")

    queries = {}  # query text -> (benchmark, index)
    for i, r in enumerate(math_rows):
        queries[math_query.format(Question=r["problem"])] = ("math", i)
    for i, r in enumerate(aime_rows):
        queries[aime_query.format(Problem=r["problem"])] = ("aime", i)
    for i, r in enumerate(he_rows):
        queries[instruction + r["prompt"]] = ("he", i)

    def model_reply(kind, i):
        # R1-distill output: starts inside the think block (the server splits nothing).
        if kind == "math":
            answers = ["The value is found. Answer: 42", "We simplify. So Answer: \\frac{1}{2}", "No idea"]
            return f"Let me think {i}.\n</think>\n\nWorking it out.\n\n{answers[i]}"
        if kind == "aime":
            gold = aime_rows[i]["answer"]
            return ["Done.\n</think>\n\n\\boxed{" + str(gold) + "}",
                    "Hmm.\n</think>\n\nSo \\boxed{4\\sqrt{7}}",
                    "Hmm.\n</think>\n\nI cannot tell."][i]
        body = he_rows[i]["prompt"] + he_rows[i]["canonical_solution"]
        return f"Plan.\n</think>\n\n```python\n{body}```\n"

    def model_handler(body, number):
        kind, i = queries[body["messages"][0]["content"]]
        return Reply(content=model_reply(kind, i))

    def checker_handler(body, number):
        text = body["messages"][0]["content"]
        if text.startswith("Extract ONLY"):
            return Reply(content="" if "No idea" in text else text.rsplit("Answer: ", 1)[1].split("\n")[0])
        return Reply(content="Yes" if "Expression 1: 42" in text or "4\\sqrt{7}" in text else "No")

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    out = tmp_path / "run"
    with OpenAIStubServer(model_handler, models=MODEL_LIST) as model, \
            OpenAIStubServer(checker_handler, models=CHECKER_LIST) as checker:
        code = main(["eval", "--protocol", "paper", "--benchmarks", "math500,aime24,humaneval", "--limit", "3",
                     "--model", f"openai:distill@{model.base_url}?max_retries=0",
                     "--checker", f"openai:gpt-4o@{checker.base_url}?max_retries=0",
                     "--out", str(out), "--local-dir", str(shared_data), "-q"])
        model_bodies, checker_bodies = list(model.requests), list(checker.requests)
    assert code == 0

    # The model under test: the reference's query texts, one user message, LocalSampler's sampling.
    assert sorted(b["messages"][0]["content"] for b in model_bodies) == sorted(queries)
    sampling = sampler_keywords(shared_data)
    for body in model_bodies:
        assert len(body["messages"]) == 1 and body["messages"][0]["role"] == "user"
        assert body["temperature"] == 0 and body["top_p"] == sampling["top_p"] == 0.95
        assert body["repetition_penalty"] == sampling["repetition_penalty"] == 1.2
        assert body["seed"] == 46 and body["max_tokens"] == 16384  # run_all_evals.sh

    # MATH: extraction of the text after the last period, then the judge over each extraction
    # ("?" for an empty one) and the gold answer. AIME: the equality check only for the answer
    # that is extracted but not equal to the target.
    template = postproc_template(shared_data)
    segments = ["Answer: 42", "So Answer: \\frac{1}{2}", "No idea"]
    extracted = ["42", "\\frac{1}{2}", "?"]
    expected = [template.format(answer=s) for s in segments]
    expected += [judge_text(shared_data, e, r["answer"]) for e, r in zip(extracted, math_rows)]
    expected += [equality % {"expression1": "4\\sqrt{7}", "expression2": str(aime_rows[1]["answer"]).lstrip("0")}]
    assert sorted(b["messages"][0]["content"] for b in checker_bodies) == sorted(expected)
    for body in checker_bodies:  # AzureChatCompletionSampler: model, messages, temperature 0.5, 1024 tokens
        assert set(body) == {"model", "messages", "temperature", "max_tokens"}
        assert (body["temperature"], body["max_tokens"]) == (0.5, 1024)
        assert body["messages"][0]["role"] == "user" and isinstance(body["messages"][0]["content"], str)

    results = json.loads((out / "results.json").read_text())["benchmarks"]
    assert results["math500"]["judge"]["name"] == "reference:math-checker"
    assert results["math500"]["protocol"]["seed"] == 46 and results["math500"]["protocol"]["top_p"] == 0.95
    math_items = [json.loads(x) for x in (out / "items" / "math500.jsonl").read_text().splitlines()]
    # The checker's judge said Yes only to "42"; "?" (an empty extraction) is still judged.
    assert [m["correct"] for m in math_items] == [True, False, False]
    aime_items = [json.loads(x) for x in (out / "items" / "aime24.jsonl").read_text().splitlines()]
    assert [a["correct"] for a in aime_items] == [True, True, False]
    # The response is the reference's text: from inside the think block, no <think> tag.
    assert aime_items[0]["response"].startswith("Done.\n</think>\n\n\\boxed{")
    he_items = [json.loads(x) for x in (out / "items" / "humaneval.jsonl").read_text().splitlines()]
    assert [h["correct"] for h in he_items] == [True, True, True]
    assert results["humaneval"]["judge"]["name"] == "reference:first-python-block"


def test_without_a_checker_the_grade_is_labelled_star1s_own(tmp_path, shared_data, monkeypatch):
    rows = _rows(shared_data / "math500" / "test.jsonl")[:2]
    saved = tmp_path / "saved.jsonl"
    saved.write_text("".join(json.dumps({"benchmark": "math500", "id": r["unique_id"],
                                         "response": f"So.\n</think>\n\n\\boxed{{{r['answer']}}}"}) + "\n"
                             for r in rows))
    out = tmp_path / "run"
    assert main(["eval", "--in", str(saved), "--protocol", "paper", "--out", str(out),
                 "--local-dir", str(shared_data), "-q"]) == 0
    judge = json.loads((out / "results.json").read_text())["benchmarks"]["math500"]["judge"]
    assert "without checker" in judge["name"] and "not the reference's grade" in judge["note"]
    assert main(["report", "--in", str(out), "--out", str(tmp_path / "report")]) == 0
    assert "not the reference's grade" in (tmp_path / "report" / "table.md").read_text()


def test_a_checker_needs_the_paper_protocol(tmp_path, shared_data, capsys):
    code = main(["eval", "--model", "bundled", "--checker", "bundled", "--benchmarks", "math500",
                 "--out", str(tmp_path / "x"), "--local-dir", str(shared_data), "-q"])
    assert code == 2 and "--protocol paper" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("text,expected", [
    ("Thus.\n</think>\n\nThe answer is (B). Answer: C", "C"),  # the first pattern that matches wins
    ("Thus.\n</think>\n\nThe answer is (B).", "B"),
    ("Reasoning\n</think>\n\nANSWER: d", "D"),
    ("no cue at all\nI pick\n(E) here", "E"),
    ("nothing", None),
])
def test_mmlu_pro_letter_as_the_reference_reads_it(shared_data, text, expected):
    from star1.eval.graders.reference import mmlu_pro_letter
    from star1.eval.reference import load_reference_eval

    patterns = ast.literal_eval(_function(_tree(shared_data, "mmlu_pro_eval.py"), "extract_answer").body[1].value)
    reference = next((m.group(1).upper() for p in patterns for m in [re.search(p, text, re.I)] if m), None)
    assert mmlu_pro_letter(load_reference_eval(shared_data), text) == expected
    if reference is not None:
        assert reference == expected


def test_mmlu_pro_query_is_the_references(tmp_path, shared_data):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from star1.eval.benchmarks import mmlu_pro

    folder = tmp_path / "mmlu_pro"
    folder.mkdir()
    rows = [{"question_id": 1, "question": "Which {one}?", "options": [" a &amp; b ", "", "c"], "answer": "A",
             "category": "math"},
            {"question_id": 2, "question": "Q2", "options": [str(i) for i in range(10)], "answer": "J",
             "category": "law"}]
    pq.write_table(pa.Table.from_pylist(rows), folder / "test-00000-of-00001.parquet")
    # MMLU-Pro is hub-only. A copy, not a link: a snapshot file that links out of the folder is refused.
    shutil.copytree(shared_data / "star1_reference", tmp_path / "star1_reference")
    tree = _tree(shared_data, "mmlu_pro_eval.py")
    template = _assigned(tree, "QUERY_TEMPLATE")
    letters = ast.literal_eval(next(n.value for n in tree.body if isinstance(n, ast.Assign)
                                    and n.targets[0].id == "ANSWER_OPTIONS"))
    expected = []
    for row in rows:  # MMLUProEval.__call__ with format_options, composed here
        cleaned = [o.strip().replace("&amp;", "&") for o in row["options"]]
        lines = [f"({letters[i]}): {o or 'Option ' + letters[i]}" for i, o in enumerate(cleaned)]
        expected.append(template.format(options=letters[:len(row["options"])], question=row["question"],
                                        formatted_options="\n".join(lines)))
    items = mmlu_pro.BENCHMARK.load_items(tmp_path, reference=True)
    assert [i.prompt for i in items] == expected
    assert "['A', 'B', 'C']" in items[0].prompt and "(B): Option B" in items[0].prompt


def test_gpqa_option_order_is_the_references(tmp_path):
    import csv
    import random

    from star1.eval.benchmarks import gpqa

    folder = tmp_path / "gpqa"
    folder.mkdir()
    columns = ["Record ID", "Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
               "Incorrect Answer 3"]
    rows = [[f"r{i}", f"Q{i}?", f"right{i}", f"w1-{i}", f"w2-{i}", f"w3-{i}"] for i in range(20)]
    with open(folder / "gpqa_diamond.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([columns, *rows])
    rng = random.Random(46)  # run_all_evals.sh's seed; GPQAEval draws one permutation per row in order
    golds = []
    for row in rows:
        choices = [row[2], row[3], row[4], row[5]]
        choices = [choices[i] for i in rng.sample(range(4), 4)]
        golds.append("ABCD"[choices.index(row[2])])
    items = gpqa.BENCHMARK.load_items(tmp_path, reference=True)
    assert [i.gold for i in items] == golds
    assert [i.gold for i in gpqa.BENCHMARK.load_items(tmp_path)] != golds  # star1's own per-id shuffle


def test_an_altered_upstream_file_is_refused(tmp_path, shared_data):
    import shutil

    from star1.eval.reference import load_reference_eval
    from star1.prompts.reference import ReferenceMismatch

    copy = tmp_path / "star1_reference"
    shutil.copytree(shared_data / "star1_reference", copy)
    target = copy / "reasoning_benchmark" / "math_eval.py"
    target.chmod(0o644)
    target.write_text(target.read_text(encoding="utf-8").replace("step by step", "step-by-step"), encoding="utf-8")
    with pytest.raises(ReferenceMismatch, match="math_eval.py"):
        load_reference_eval(tmp_path)


def test_a_failed_checker_call_reads_as_empty_and_the_judge_is_still_asked(tmp_path, shared_data, monkeypatch):
    """The reference's sampler returns "" on a bad request; MathEval then judges "?"."""
    row = _rows(shared_data / "math500" / "test.jsonl")[0]
    saved = tmp_path / "saved.jsonl"
    saved.write_text(json.dumps({"benchmark": "math500", "id": row["unique_id"],
                                 "response": "Hmm.\n</think>\n\nDone. Answer: 7"}) + "\n")

    def checker_handler(body, number):
        if body["messages"][0]["content"].startswith("Extract ONLY"):
            return Reply(status=400, error="bad request")
        return Reply(content="No")

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with OpenAIStubServer(checker_handler, models=CHECKER_LIST) as checker:
        assert main(["eval", "--in", str(saved), "--protocol", "paper", "--out", str(tmp_path / "run"),
                     "--checker", f"openai:gpt-4o@{checker.base_url}?max_retries=0",
                     "--local-dir", str(shared_data), "-q"]) == 0
        texts = [b["messages"][0]["content"] for b in checker.requests]
    assert texts[-1] == judge_text(shared_data, "?", row["answer"])
    item = json.loads((tmp_path / "run" / "items" / "math500.jsonl").read_text())
    assert item["correct"] is False
