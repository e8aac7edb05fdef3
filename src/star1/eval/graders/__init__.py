"""Graders of reasoning answers: math equivalence, multiple-choice letters, sandboxed code."""
