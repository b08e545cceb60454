"""The knowledge base: readers, sectioning, text analysis, SQLite store, retrieval, evaluation."""
