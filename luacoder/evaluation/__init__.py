"""The eval harness of `eval/eval.py`, over the grader of `luacoder.grading`, and the one inference engine.

`engine` (how a checkpoint is asked: eval, generate.py, the playground and the demo all go through it), `backends`
(its HF and vLLM generation) and `shrinking_batch` (HF decoding where finished rows leave the batch); `retrieval`
(open book: documented entries retrieved for a question, shown before it) and `constrained` (decoding that keeps
names after `module.` and `value:` to the documented ones) are the engine's options. `cache` (answers kept between
runs), `checkpoints` (discovery and content fingerprints), `prompts` (the prompt sets), `report` (report.md,
results.csv, the accuracy plot), `entries` (the per-entry table), `multipl_e` (HumanEval-Lua), `playground` (the
notebooks' library).
"""
