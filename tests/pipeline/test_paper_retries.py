"""Paper mode, as the reference re-asks and routes its calls: a teacher reply cut at its length
limit is asked again with the byte-identical request (the call cache tells the attempts apart by
their number, never by the request), a rerun of the build is answered from the cache alone, the
STAR-benign rewrite goes to the rewriter's model and the answer to the teacher's, and an empty
answer after </think> is kept as the reference keeps it."""

import json

import pytest

from star1.cli import main
from star1.records import Record, read_records, write_records
from star1.testing.openai_server import OpenAIStubServer, Reply

QUESTION = "How can I hurt myself without anyone noticing?"
REWRITE = "How can I hide a bruise from a sports injury?"
SCORES = ("Content_Safety_Compliance", "Relevancy_and_No_Redundant_Content", "Accuracy_of_Thinking_Process")
OVERREFUSAL = ("Content_Safety_Compliance", "Quality_of_Thinking_Process", "Compliance_Degree")


def text_of(body) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def fenced(keys, value) -> str:
    return "```json\n" + json.dumps(dict.fromkeys(keys, value)) + "\n```"


class GPT4o:
    """Classifier, judge and rewriter: the reference's GPT-4o calls, told apart by their text."""

    def __call__(self, body, n):
        text = text_of(body)
        if "Compliance_Degree" in text:
            return Reply(content=fenced(OVERREFUSAL, 5))
        if "Accuracy_of_Thinking_Process" in text:
            return Reply(content=fenced(SCORES, 10))
        if text.startswith("The following is an instruction"):
            return Reply(content='["Self-Harm"]')
        return Reply(content=REWRITE)  # the rewrite prompt


class R1:
    """The teacher: its first deliberation is cut at the length limit; the benign answer has
    reasoning and an empty answer."""

    def __init__(self):
        self.deliberations = 0

    def __call__(self, body, n):
        text = text_of(body)
        if text == REWRITE:
            return Reply(content="", reasoning_content="A harmless question about first aid.")
        self.deliberations += 1
        if self.deliberations == 1:
            return Reply(content="", reasoning_content="The policy says", finish_reason="length")
        return Reply(content="I can't help with that; please talk to someone you trust.",
                     reasoning_content="Self-harm policy: refuse and offer support.")


@pytest.fixture
def config(tmp_path, shared_data):
    prompts = tmp_path / "prompts.jsonl"
    write_records(prompts, [Record(id="p1", question=QUESTION, source="src")])

    def write(gpt, r1):
        path = tmp_path / "paper_benign.yaml"  # configs/build/paper_benign.yaml, on local servers
        path.write_text("\n".join([
            f"input: {prompts}", f"run_dir: {tmp_path / 'run'}", "protocol: paper", f"local_dir: {shared_data}",
            f"classifier: openai:gpt-4o-2024-11-20@{gpt.base_url}?max_retries=0",
            f"judge: openai:gpt-4o-2024-11-20@{gpt.base_url}?max_retries=0",
            f"rewriter: openai:gpt-4o@{gpt.base_url}?max_retries=0",
            f"teacher: openai:deepseek-ai/deepseek-r1@{r1.base_url}?max_retries=0",
            "deliberate: {reasoning_mode: native}",
            "select: {n: 1}",
            "benign: {enabled: true, mix: true, generate: {reasoning_mode: native}}", ""]))
        return path
    return write


def test_a_cut_deliberation_is_asked_again_identically_and_a_rerun_is_answered_from_the_cache(config, tmp_path):
    r1 = R1()
    with OpenAIStubServer(GPT4o()) as gpt, OpenAIStubServer(r1) as teacher:
        path = config(gpt, teacher)
        assert main(["build", "--config", str(path)]) == 0
        deliberations = [raw for raw, body in zip(teacher.raw_requests, teacher.requests)
                         if text_of(body).startswith("The following is an instruction")]
        assert len(deliberations) == 2
        assert deliberations[0] == deliberations[1]  # byte for byte: no seed, no new temperature
        first = json.loads(deliberations[0])
        assert (first["temperature"], first["top_p"], first["max_tokens"]) == (0.6, 0.7, 8000)
        assert "seed" not in first
        asked = (gpt.count, teacher.count)
        assert main(["build", "--config", str(path)]) == 0  # the rerun: every answer from the cache
        assert (gpt.count, teacher.count) == asked
    run = tmp_path / "run"
    [sample] = read_records(run / "star1.jsonl")
    assert sample.response.startswith("<think>\nSelf-harm policy")
    summary = json.loads((run / "summary.json").read_text())
    assert all(s["calls"]["new"] == 0 for s in summary["stages"])


def test_the_rewrite_goes_to_the_rewriter_and_the_answer_to_the_teacher(config, tmp_path):
    with OpenAIStubServer(GPT4o()) as gpt, OpenAIStubServer(R1()) as teacher:
        assert main(["build", "--config", str(config(gpt, teacher))]) == 0
        rewrites = [b for b in gpt.requests if not text_of(b).startswith("The following")
                    and "Accuracy_of_Thinking_Process" not in text_of(b) and "Compliance_Degree" not in text_of(b)]
        assert [b["model"] for b in rewrites] == ["gpt-4o"]
        assert [text_of(b) for b in teacher.requests if text_of(b) == REWRITE] == [REWRITE]
        assert not any(text_of(b) == REWRITE for b in gpt.requests)  # nobody else answers it
    [benign] = read_records(tmp_path / "run" / "benign.jsonl")
    # The teacher's reply had reasoning and an empty answer: kept, as the reference keeps it.
    assert benign.question == REWRITE
    assert benign.response == "<think>\nA harmless question about first aid.\n</think>\n\n"


def test_star1_protocol_still_resamples_a_retry(tmp_path):
    """star1's own stages are greedy: an identical re-ask would get the same unusable answer."""
    from star1.pipeline.config import BuildConfig

    own, paper = BuildConfig(), BuildConfig(protocol="paper")
    assert own.classify.sampling_at(1).temperature == 0.7 and own.classify.sampling_at(1).seed == 1
    assert paper.classify.sampling_at(1) == paper.classify.sampling_at(0)
    assert paper.deliberate.retry.same_request and not own.deliberate.retry.same_request
