#!/usr/bin/env bash
# STAR-1 in miniature on a CPU: the bundled SmolLM2-135M-Instruct before and after fine-tuning on
# the released STAR-1 1K (and on STAR-1 + benign look-alikes made by `star1 benign`), evaluated on
# StrongREJECT, JBB-Behaviors and XSTest with the same judges for every arm. See docs/mini_repro.md.
#
#   make mini-repro                      # fresh machine: sets up .venv, then runs this script
#   bash experiments/mini_repro.sh       # star1 already installed
#   COMPARE=docs/mini_repro/results.json bash experiments/mini_repro.sh   # check against the committed table
#
# Rerunning resumes: finished models are kept and every model call comes from the call caches.
set -euo pipefail
cd "$(dirname "$0")/.."

STAR1=${STAR1:-star1}
PYTHON=${PYTHON:-python3}
OUT=${OUT:-runs/mini_repro}
DATA_DIR=${STAR1_DATA_DIR:-../shared/data}
SEED=${SEED:-0}
THREADS=${THREADS:-1}                # fixed, so the busy-CPU heuristic cannot change the numbers
EPOCHS=${EPOCHS:-1}
LEARNING_RATE=${LEARNING_RATE:-1e-4}
GLOBAL_BATCH=${GLOBAL_BATCH:-16}
MAX_LENGTH=${MAX_LENGTH:-512}
BENIGN_INPUTS=${BENIGN_INPUTS:-200}  # STAR-1 prompts given to `star1 benign`
EVAL_MAX_TOKENS=${EVAL_MAX_TOKENS:-128}
EVAL_BATCH=${EVAL_BATCH:-32}
BENCHMARKS=strongreject,jbb,xstest
LLM_JUDGE=${LLM_JUDGE:-0}            # 1: also the bundled model as LLM judge (slow, see docs/mini_repro.md)
COMPARE=${COMPARE:-}

STAR1_JSON="$DATA_DIR/star1/STAR-1.json"
[ -f "$STAR1_JSON" ] || { echo "mini_repro: $STAR1_JSON not found (set STAR1_DATA_DIR)" >&2; exit 2; }
export STAR1_DATA_DIR="$DATA_DIR" STAR1_OFFLINE=1 HF_HUB_OFFLINE=1
mkdir -p "$OUT"/{data,models,eval,logs}
TIMINGS="$OUT/timings.tsv"
[ -f "$TIMINGS" ] || printf 'step\tseconds\n' > "$TIMINGS"

step() {  # step NAME COMMAND...: run, and append its wall time to timings.tsv
    local name=$1; shift
    echo "== $name"
    local start=$SECONDS log="$OUT/logs/$(echo "$name" | tr -c 'A-Za-z0-9_\n-' _).log"
    "$@" 2>&1 | tee "$log"
    printf '%s\t%s\n' "$name" "$((SECONDS - start))" >> "$TIMINGS"
}

engine() {  # engine KIND [MODEL]: a YAML engine mapping with the fixed thread count
    if [ "$1" = bundled ]; then echo "{kind: bundled, threads: $THREADS}"
    else echo "{kind: transformers, model: $2, threads: $THREADS}"; fi
}

# 1. Benign look-alikes from a seeded sample of STAR-1 prompts, then STAR-1 + benign.
# The bundled 135M model cannot filter its own look-alikes: its classifier put a safety category on
# all 351 rewrites it was shown (harm_check=off skips it), and as a judge it gave 1/1/1 to 144 of 157
# answers, 5/5/5 to 5 (the scores are still recorded; the minimums of 1 keep every sample).
"$PYTHON" - "$STAR1_JSON" "$OUT/data/benign_inputs.jsonl" "$BENIGN_INPUTS" "$SEED" <<'EOF'
import json, random, sys
records = json.load(open(sys.argv[1], encoding="utf-8"))
chosen = random.Random(int(sys.argv[4])).sample(records, int(sys.argv[3]))
with open(sys.argv[2], "w", encoding="utf-8") as fh:
    fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in chosen)
EOF
if [ ! -f "$OUT/data/benign.jsonl" ]; then
    step benign "$STAR1" benign --in "$OUT/data/benign_inputs.jsonl" --out "$OUT/data/benign.jsonl" \
        --teacher "{kind: bundled, threads: $THREADS, length_is_failure: false}" --set cache="$OUT/data/benign.calls.sqlite" \
        --set rewrite.max_tokens=48 --set generate.reasoning_max_tokens=64 --set generate.answer_max_tokens=96 \
        --set generate.temperature=0 --set generate.repetition_penalty=1.2 --set rewrite.harm_check=off \
        --set score.min_safety=1 --set score.min_reasoning=1 --set score.min_compliance=1
fi
[ -f "$OUT/data/star1_plus_benign.jsonl" ] || \
    step mix "$STAR1" mix --in "$STAR1_JSON" --in "$OUT/data/benign.jsonl" --out "$OUT/data/star1_plus_benign.jsonl" --set seed="$SEED"

# 2. Fine-tune: full weights, answers only (think=false), the same settings for both arms.
train() {  # train NAME DATA
    [ -f "$OUT/models/$1/train_report.json" ] && { echo "== train $1: done earlier"; return; }
    step "train $1" "$STAR1" train --model bundled --in "$2" --out "$OUT/models/$1" --set think=false \
        --set max_length="$MAX_LENGTH" --set epochs="$EPOCHS" --set learning_rate="$LEARNING_RATE" \
        --set global_batch_size="$GLOBAL_BATCH" --set precision=fp32 --set seed="$SEED" \
        --set threads="$THREADS" --set lora=false
}
train star1 "$STAR1_JSON"
train star1_benign "$OUT/data/star1_plus_benign.jsonl"

# 3. Evaluate every arm with the keyword judge, then (same responses, from the cache) the LLM judge.
evaluate() {  # evaluate ARM LABEL ENGINE
    local cache="$OUT/eval/$1.calls.sqlite"
    local settings=(--set "label=$2" --set "max_tokens=$EVAL_MAX_TOKENS" --set "batch_size=$EVAL_BATCH"
                    --set "cache=$cache")
    step "eval $1 (keyword judge)" "$STAR1" eval --model "$3" --benchmarks "$BENCHMARKS" "${settings[@]}" \
        --out "$OUT/eval/keyword/$1" -q
    if [ "$LLM_JUDGE" = 1 ]; then
        step "eval $1 (bundled judge)" "$STAR1" eval --model "$3" --benchmarks "$BENCHMARKS" "${settings[@]}" \
            --safety-judge "$(engine bundled)" --refusal-judge "$(engine bundled)" \
            --out "$OUT/eval/bundled_judge/$1" -q
    fi
}
evaluate base base "$(engine bundled)"
evaluate star1 +STAR-1 "$(engine transformers "$OUT/models/star1")"
evaluate star1_benign +STAR-1+benign "$(engine transformers "$OUT/models/star1_benign")"

# 4. Tables, plot, and (optionally) the comparison with a committed run.
report() {  # report JUDGE: one --in per arm's results folder
    local ins=() folder
    for folder in "$OUT/eval/$1"/*; do ins+=(--in "$folder"); done
    "$STAR1" report "${ins[@]}" --out "$OUT/report/$1"
}
report keyword
[ "$LLM_JUDGE" = 1 ] && report bundled_judge
"$PYTHON" experiments/mini_repro_summary.py "$OUT" ${COMPARE:+--compare "$COMPARE"}
