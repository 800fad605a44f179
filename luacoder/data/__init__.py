"""Dataset building: the code (pretrain) and chat datasets and the eval prompts, from api.json.

- `config`: the data config (data/config.yaml), typed; `sources`: the inputs (api.json from the configured docs,
  your Lua files, imported conversations in their layouts).
- `pretrain.build_pretrain` and `chat.build_chat`: the two builders (`luacoder build-pretrain|build-chat`, the
  notebooks data/lua.ipynb and data/dialogue.ipynb); `eval_prompts`: eval/prompts.csv.
- Their parts: `usage` (code written from signatures, LuaCATS stubs), `dialogues` and `phrasing` (questions and
  answers), `tasks` and `task_dialogues` (goals in plain words and the checked programs that reach them),
  `near_miss` (functions the API lacks, answered with what it has), `replay` (the base model's own answers to
  general questions, `luacoder replay`), `filters` (exact and MinHash LSH duplicates, quality, decontamination,
  splits, the API call check via luacoder.grading), `execution` (the sandbox filter), `ledger` (counts and
  rejects), `card`.
"""
