"""Evaluation of safety and reasoning: ``star1 eval``, ``star1 report`` and ``star1 judge-check``.

Benchmarks live in :mod:`star1.eval.benchmarks` (listed in :mod:`star1.eval.registry`), judges in
:mod:`star1.eval.judges`, graders in :mod:`star1.eval.graders`, the typed records of the output
files in :mod:`star1.eval.records`; :mod:`star1.eval.runner` ties them together. See docs/eval.md.
"""
