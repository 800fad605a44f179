"""Work that needs a teacher model: behind an OpenAI-compatible API (vLLM, `transformers serve`, OpenAI itself), or in
this process (`teachers`: a model folder, or the base model itself).

- Synthesis aimed at the API (`luacoder synthesize`, `synthesis`): entries drawn by need (`aim`), a task and tested
  answers per item (the E->I and EI->R modes of `stages`), kept only through the funnel of `api_filter` (documented
  calls, the drawn entries called, ran with the API's stubs, passed its tests, deduplicated, decontaminated).

- Self-instruct, after StarCoder2-Instruct's self-alignment: a base model turns the docs' examples into concepts
  (S->C), concepts into instructions (C->I) and instructions into answers with tests (I->R); only answers whose code
  and tests run in the Lua sandbox are kept (`response_filter`), then sanitised, deduplicated and written as chat
  rows for `deepspeed/chat`.
- Pairwise judging of two checkpoints' answers, after the StarChat write-up (`pairwise_judge`, `eval/judge.py`).

`OPENAI_BASE_URL` and `OPENAI_API_KEY` pick the server, as in StarCoder2-Instruct's pipeline.
"""
