"""Text processing of server-side inference: BM25 tokens and sparse vectors."""
