"""One cheap request that tells whether a server really continues an assistant prefill.

The probe asks the model to count from 1 to 20 and prefills its answer with
``"1, 2, …, 10, 11, 1"`` — stopping in the middle of the number 12. A server that continues the
prefill gets ``"2, 13, …"``: the first thing written completes the number. A server that drops
the prefill, or closes the prefilled turn and opens a new one, gets a fresh answer, which starts
counting again (``"1, 2, 3,"``) or talks about the text; no fresh answer begins with a lone
``2``, not even a strong model's, which would write ``12``. Greedy, 8 tokens: well under a
second on a 135M model. Measured on llama-cpp-python with the bundled SmolLM2-135M: its chat
endpoint answered ``'1, 2, 3,'`` (ignored), its /v1/completions endpoint with the prompt rendered
by star1 answered ``'2, 13, 1'`` (continued).

Anything else (an error, an empty or off-topic reply) counts as *not honoured*: a wrong "no"
costs a switch to /v1/completions or a clear stop, a wrong "yes" would write records whose
reasoning is not the model's continuation.
"""

from __future__ import annotations

import re

from star1.engines.base import ChatRequest, SamplingParams

PROBE = ChatRequest(
    messages=({"role": "user", "content": "Count from 1 to 20, separated by commas."},),
    sampling=SamplingParams(max_tokens=8, temperature=0.0, top_p=None),
    prefill="1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1",
)
_CONTINUED = re.compile(r"2\s*(,|$)")


def honoured(continuation: str) -> bool:
    return bool(_CONTINUED.match(continuation))


# Whether the served model reasons by itself (DeepSeek-R1, QwQ, Qwen3 thinking, or any model
# behind a server's reasoning parser): a trivial question, answered greedily with room for a
# short think block. A reasoning model's reply carries reasoning (a reasoning field, or text
# before "</think>"); a plain instruct model answers in a few tokens, so the probe is cheap for
# it. Measured: the bundled SmolLM2-135M on llama-cpp-python answers without any.
REASONING_PROBE = ChatRequest(
    messages=({"role": "user", "content": "What is 2 + 2? Answer with the number only."},),
    sampling=SamplingParams(max_tokens=512, temperature=0.0, top_p=None),
)


def reasons(completion) -> bool:
    return bool((completion.reasoning or "").strip())
