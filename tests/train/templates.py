"""Chat templates written for these tests (our own wording), reproducing the behaviours that matter.

The real R1-distill / Qwen3 / Llama tokenizers cannot be downloaded here, so these Jinja strings
are applied to the bundled SmolLM2 tokenizer. They mimic the structures of those templates:
ChatML turns (Qwen) or header turns (Llama 3), and, in the stripping variants, the assistant
content cut to what follows ``</think>``, as DeepSeek-R1 distills do.
"""

_QWEN_STRIP = "{%- if '</think>' in body -%}{%- set body = body.split('</think>')[-1] | trim -%}{%- endif -%}"
_LLAMA_STRIP = ('{%- if message["role"] == "assistant" and "</think>" in text -%}'
                '{%- set text = text.split("</think>")[-1].lstrip() -%}{%- endif -%}')


def qwen_style(strips: bool, opens_think: bool = True) -> str:
    """ChatML turns; the generation prompt opens the think block like R1 distills."""
    generation = "<|im_start|>assistant\\n" + ("<think>\\n" if opens_think else "")
    return (
        "{%- for m in messages -%}"
        "{%- set body = m.content -%}"
        "{%- if m.role == 'assistant' -%}" + (_QWEN_STRIP if strips else "") + "{%- endif -%}"
        "{{- '<|im_start|>' + m.role + '\\n' + body + '<|im_end|>\\n' -}}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '" + generation + "' -}}{%- endif -%}"
    )


def llama_style(strips: bool) -> str:
    """Llama 3 header turns; no think block in the generation prompt."""
    return (
        "{{- '<|begin_of_text|>' -}}"
        "{%- for message in messages -%}"
        "{%- set text = message['content'] -%}" + (_LLAMA_STRIP if strips else "") +
        "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + text + '<|eot_id|>' -}}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}"
        "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}"
        "{%- endif -%}"
    )


def qwen3_style() -> str:
    """ChatML where the final assistant turn without reasoning gets an empty think block injected."""
    return (
        "{%- for m in messages -%}"
        "{%- if m.role == 'assistant' -%}"
        "{%- set body = m.content -%}"
        "{%- if '</think>' in body -%}{%- set body = body.split('</think>')[-1].lstrip('\\n') -%}{%- endif -%}"
        "{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' + body + '<|im_end|>\\n' -}}"
        "{%- else -%}"
        "{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' -}}"
        "{%- endif -%}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
    )


# The snippet that cuts reasoning out of assistant turns, as the DeepSeek-R1 distill templates
# write it: the reference's sft.py deletes exactly this text from the template before rendering.
R1_STRIP = "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"


def r1_distill_style() -> str:
    """The layout of the DeepSeek-R1 distill templates (Qwen and Llama ones alike): the BOS
    variable first, user and assistant markers, the reasoning-stripping snippet, and a generation
    prompt that opens the think block. SmolLM2's BOS is its turn marker ``<|im_start|>``, so the
    turns here are marked with text and the assistant turn ends with its ``<|im_end|>``."""
    return (
        "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
        "{{ bos_token }}"
        "{%- for message in messages %}"
        "{%- if message['role'] == 'user' %}{{ '<｜User｜>' + message['content'] }}{%- endif %}"
        "{%- if message['role'] == 'assistant' %}{% set content = message['content'] %}" + R1_STRIP +
        "{{ '<｜Assistant｜>' + content + '<|im_end|>' }}{%- endif %}"
        "{%- endfor %}"
        "{% if add_generation_prompt %}{{ '<｜Assistant｜><think>\\n' }}{% endif %}"
    )
