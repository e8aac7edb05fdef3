"""Eval generation with a local model: star1's transformers engine vs its vLLM engine, side by side.

Both engines answer the same chats (``--prompts`` of them, greedy, the same ``--max-tokens``,
the same precision) through star1's own engine classes, as ``star1 eval`` runs them. Load time
is reported apart from generation; tokens/s counts the completion tokens each engine reports.

    python benchmarks/local_generation.py                       # the bundled SmolLM2-135M, CPU
    python benchmarks/local_generation.py --shape r1-1.5b       # a random model shaped like
                                                                # DeepSeek-R1-Distill-Qwen-1.5B (GPU)

``--shape r1-1.5b`` writes a randomly initialised checkpoint with R1-Distill-Qwen-1.5B's
config (and the bundled tokenizer, so its vocabulary is the tokenizer's) into a scratch folder:
nothing is downloaded. Its answers are noise, but run to ``--max-tokens`` like a long answer.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

TOPICS = ["photosynthesis", "the water cycle", "how vaccines work", "plate tectonics", "compound interest",
          "the French revolution", "black holes", "how a bicycle stays upright", "recursion",
          "supply and demand", "the immune system", "climate and weather", "how bread rises",
          "the printing press", "neural networks", "the Pythagorean theorem", "how tides work",
          "the stock market", "the theory of evolution", "how a refrigerator works", "volcanoes",
          "the Roman empire", "how batteries store energy", "DNA replication", "the speed of light",
          "how airplanes fly", "the greenhouse effect", "prime numbers", "how the internet routes data",
          "the moon landing", "antibiotic resistance", "how a compiler works"]
R1_SHAPE = dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                num_key_value_heads=2, tie_word_embeddings=False, rope_theta=10000.0,
                max_position_embeddings=131072, rms_norm_eps=1e-6, use_sliding_window=False)


def prompts(n: int) -> list[str]:
    return [f"Explain {TOPICS[i % len(TOPICS)]} in a few paragraphs." + (f" ({i // len(TOPICS)})" if i >= len(TOPICS) else "")
            for i in range(n)]


def shaped_model(folder: Path) -> str:
    """A random Qwen2 checkpoint with R1-Distill-Qwen-1.5B's shape and the bundled tokenizer."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from star1.engines.bundled import bundled_model_dir

    tokenizer = AutoTokenizer.from_pretrained(bundled_model_dir())
    config = Qwen2Config(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, **R1_SHAPE)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def run(kind: str, model: str, texts: list[str], max_tokens: int, options: dict) -> dict:
    from star1.engines import ChatRequest, SamplingParams, make_engine

    spec = {"kind": kind, "model": model, "length_is_failure": False, "native_reasoning": False, **options}
    engine = make_engine(spec)
    sampling = SamplingParams(max_tokens=max_tokens, temperature=0.0)
    requests = [ChatRequest.chat(t, sampling=sampling) for t in texts]
    started = time.perf_counter()
    engine.generate([ChatRequest.chat("warm-up", sampling=SamplingParams(max_tokens=1))])  # loads the model
    load = time.perf_counter() - started
    started = time.perf_counter()
    out = engine.generate(requests)
    wall = time.perf_counter() - started
    engine.close()
    del engine
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():  # the next engine gets the memory this one held
        torch.cuda.empty_cache()
    tokens = sum(c.completion_tokens for c in out)
    return {"engine": kind, "load_s": round(load, 1), "generate_s": round(wall, 1), "completion_tokens": tokens,
            "tokens_per_s": round(tokens / wall, 1), "errors": sum(not c.ok for c in out),
            "texts": [c.text for c in out]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a checkpoint folder (default: the bundled SmolLM2-135M)")
    parser.add_argument("--shape", choices=["r1-1.5b"], help="a random model of this shape instead")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--engines", default="transformers,vllm")
    parser.add_argument("--batch-size", type=int, default=32, help="the transformers engine's batch")
    parser.add_argument("--threads", type=int, help="the transformers engine's torch threads")
    parser.add_argument("--enforce-eager", action="store_true", help="vLLM: no CUDA graphs / compilation")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    scratch = tempfile.mkdtemp(prefix="star1-gen-bench-")
    if args.shape:
        model = shaped_model(Path(scratch) / args.shape)
    elif args.model:
        model = args.model
    else:
        from star1.engines.bundled import bundled_model_dir

        model = str(bundled_model_dir())
    texts = prompts(args.prompts)
    options = {"transformers": {"dtype": args.dtype, "batch_size": args.batch_size,
                                **({"threads": args.threads} if args.threads else {})},
               "vllm": {"dtype": args.dtype, "enforce_eager": args.enforce_eager,
                        "max_model_len": args.max_tokens + 1024}}
    results = [run(kind, model, texts, args.max_tokens, options[kind]) for kind in args.engines.split(",")]
    if len(results) == 2:
        same = sum(a == b for a, b in zip(results[0]["texts"], results[1]["texts"]))
        for r in results:
            r["same_text_as_other"] = same

    table = Table(title=f"{args.prompts} chats, greedy, max_tokens {args.max_tokens}, {args.dtype}: {model}")
    for column in ("engine", "load s", "generate s", "completion tokens", "tokens/s", "errors"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    for r in results:
        table.add_row(r["engine"], str(r["load_s"]), str(r["generate_s"]), str(r["completion_tokens"]),
                      str(r["tokens_per_s"]), str(r["errors"]))
    Console().print(table)
    if len(results) == 2:
        print(f"speed-up {results[1]['engine']} / {results[0]['engine']}: "
              f"{results[1]['tokens_per_s'] / max(results[0]['tokens_per_s'], 1e-9):.2f}x; "
              f"identical answers: {results[0]['same_text_as_other']}/{args.prompts}")
    if args.out:
        Path(args.out).write_text(json.dumps([{k: v for k, v in r.items() if k != "texts"} for r in results],
                                             indent=2) + "\n")


if __name__ == "__main__":  # vLLM starts worker processes that import this module
    main()
