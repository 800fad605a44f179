"""Dataset building: the code (pretrain) and chat datasets and the eval prompts, from api.json.

- `config`: the data config (data/config.yaml), typed; `api_source`: api.json from the configured docs.
- `pretrain.build_pretrain` and `chat.build_chat`: the two builders (`luacoder build-pretrain|build-chat`, the
  notebooks data/lua.ipynb and data/dialogue.ipynb); `eval_prompts`: eval/prompts.csv.
- Their parts: `usage` (code written from signatures, LuaCATS stubs), `dialogues` and `phrasing` (questions and
  answers), `api_check` (the call check, via luacoder.grading), `quality`, `execution` (the sandbox filter), `dedup`
  (exact, MinHash LSH), `decontam`, `splits`, `ledger` (counts and rejects), `card`, `imports` and `chat_rows`.
"""
