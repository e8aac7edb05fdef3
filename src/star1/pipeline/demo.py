"""Settings of ``star1 demo``: the bundled 135M model plays classifier, teacher and judge.

A model this small reasons poorly and never earns the paper's perfect scores (as its own judge
it gives 1-4 out of 10), so the demo keeps outputs short and lowers the selection thresholds
far below the paper's: it shows every stage working, not a dataset worth training on. Real runs
use the paper's defaults (all three scores 10).
"""

from star1.records import SCORE_KEYS

DEMO_SETTINGS: dict = {
    # Short outputs are cut at the token limit by design here, so a cut is not a failure.
    "engine": {"kind": "bundled", "length_is_failure": False, "batch_size": 8},
    "deliberate": {"reasoning_max_tokens": 128, "answer_max_tokens": 96, "temperature": 0.0,
                   "repetition_penalty": 1.2},
    "select": {"n": 8, "min_scores": dict(zip(SCORE_KEYS, (3, 2, 2)))},
}
