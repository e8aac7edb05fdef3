#!/usr/bin/env bash
# star1 train throughput on one GPU (issues 4, 11): (c) star1 train, (a) reference style, (b) TRL SFTTrainer,
# (d) star1 train without Liger, on a random model with DeepSeek-R1-Distill-Qwen-1.5B's shape and STAR-1's
# token lengths. The star1 modes (c, d) run once per loss weighting in WEIGHTING (default: sample, the
# reference's and star1's default, then token, the model's own loss with Liger's fused cross-entropy).
#
# Run from the repository root; wheels the image may lack (trl, liger-kernel, datasets and their pure
# dependencies) are taken from .whl/ and installed only when missing or older:
#     bash benchmarks/h200_train.sh                                # c-sample, c-token, a, b, d-sample, d-token
#     MODES=c WEIGHTING=sample,token bash benchmarks/h200_train.sh # the weighting comparison alone (~4 min)
# Then, where 2+ GPUs are visible, one FSDP step over all of them against one GPU (benchmarks/fsdp_step.py).
# Each mode runs in its own process with its own timeout (c 100, a 90, b 110, d 60 s: 520 s in all with
# both weightings), so a failing mode still leaves the others' results. Results: $OUT/results.json,
# one log per mode, and the table on stdout.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/star1-train-bench}"
SITE=/tmp/site
mkdir -p "$OUT" "$SITE"

if compgen -G ".whl/*.whl" > /dev/null; then
    mapfile -t NEEDED < <(python3 - <<'EOF'
import glob, re
from importlib.metadata import PackageNotFoundError, version
from packaging.version import Version

for path in sorted(glob.glob(".whl/*.whl")):
    name, wheel_version = re.match(r"\.whl/([^-]+)-([^-]+)-", path).groups()
    try:
        installed = version(name.replace("_", "-"))
    except PackageNotFoundError:
        installed = None
    if installed is None or Version(installed) < Version(wheel_version):
        print(path)
EOF
)
    if [ "${#NEEDED[@]}" -gt 0 ]; then
        echo "installing into $SITE: ${NEEDED[*]}"
        python3 -m pip install -q --no-index --no-deps --target "$SITE" "${NEEDED[@]}" \
            || echo "WARNING: wheel install failed; modes needing them will report the error"
    fi
fi
export PYTHONPATH="$SITE:$PWD/src"
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
python3 -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, '| transformers', transformers.__version__)"

# DEVICE=cpu SHAPE=tiny MODES=c runs the same script on a CPU (to check it without a GPU).
timeout "${TIMEOUT:-580}" python3 benchmarks/train_throughput.py --device "${DEVICE:-cuda}" \
    --shape "${SHAPE:-r1-1.5b}" --modes "${MODES:-c,a,b,d}" --loss-weighting "${WEIGHTING:-sample,token}" \
    --out "$OUT" 2>&1 | tee "$OUT/table.txt"
echo "exit ${PIPESTATUS[0]}; files in $OUT"

# FSDP across GPUs (configs/accelerate/fsdp.yaml): two optimizer steps of star1 train on every visible GPU
# against one GPU, same config (a random Qwen2 of R1-1.5B's shape, local tokenizer and data: no hub access
# needed). Needs 2+ GPUs; FSDP=0 skips it. Written against accelerate's documented launch; not run yet (the
# project's GPU machine had one GPU). The CPU version runs in CI: tests/train/test_sharded.py.
GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if [ "${FSDP:-1}" = 0 ]; then
    echo "FSDP step: skipped (FSDP=0)"
elif [ "${GPUS:-0}" -lt 2 ]; then
    echo "FSDP step: skipped: ${GPUS:-0} GPU visible, a multi-process FSDP step needs 2 or more"
else
    FS="$OUT/fsdp"
    rm -rf "$FS" && python3 benchmarks/fsdp_step.py prepare "$FS" --shape "${FSDP_SHAPE:-r1-1.5b}" --samples 64 --steps 2
    timeout "${FSDP_TIMEOUT:-300}" python3 -m star1.train --config "$FS/train.yaml" --out "$FS/single" \
        > "$FS/single.log" 2>&1 || echo "one-GPU run failed: see $FS/single.log"
    timeout "${FSDP_TIMEOUT:-300}" python3 -m accelerate.commands.launch --config_file configs/accelerate/fsdp.yaml \
        --num_processes "$GPUS" -m star1.train --config "$FS/train.yaml" --out "$FS/fsdp" \
        > "$FS/fsdp.log" 2>&1 || echo "FSDP run failed: see $FS/fsdp.log"
    python3 benchmarks/fsdp_step.py compare "$FS/single" "$FS/fsdp" 2>&1 | tee "$FS/compare.txt"
fi
