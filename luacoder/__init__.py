"""LuaCoder: turn the documentation of a Lua API into a coding assistant for that API, and measure it.

The library holds what the stages share (see DESIGN.md): `apidocs` (api.json and doc readers), `train`
(tokenizer, chat template, model set-up). Stage scripts live in `data/`, `deepspeed/` and `eval/`.
"""

__version__ = "0.1.0"
