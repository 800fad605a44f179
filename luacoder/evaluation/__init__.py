"""The eval harness of `eval/eval.py`, over the grader of `luacoder.grading`.

`backends` (generation: HF, vLLM), `cache` (answers kept between runs), `checkpoints` (discovery and content
fingerprints), `prompts` (the eval prompts CSV) and `report` (report.md, results.csv, the accuracy plot).
`retrieval` (open book: documented entries retrieved for a question, shown before it) and `constrained` (decoding
that keeps names after `module.` and `value:` to the documented ones) are options of generation.
"""
