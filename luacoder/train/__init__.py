"""Training support shared by the stages: chat template and special tokens, tokenizer, model set-up."""
