"""The eval harness of `eval/eval.py`, over the grader of `luacoder.grading`.

`backends` (generation: HF, vLLM), `cache` (answers kept between runs), `checkpoints` (discovery and content
fingerprints), `prompts` (the eval prompts CSV) and `report` (report.md, results.csv, the accuracy plot).
"""
