"""The corpus, the tokenizer and batches."""
