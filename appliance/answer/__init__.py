"""The answer engine: triage, retrieval, and grounded answers (extractive or by the local LLM)."""
