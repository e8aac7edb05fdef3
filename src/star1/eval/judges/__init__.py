"""Judges of safety (Llama-Guard-3 format) and refusal (LLM prompt or keyword rules)."""
