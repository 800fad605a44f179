"""Few-shot prompt files for the self-instruct modes, which users edit to suit their API.

A file has a system text and examples, each example an input and an output section named after the mode:

    (anything before the first "### System" line is a note to the reader, not part of the prompt)
    ### System
    Extract the key programming concepts from the Lua snippet ...

    ### Example
    [Snippet]
    for word in text:gmatch("%a+") do ... end
    [Concepts]
    pattern matching with string.gmatch, ...

    ### Example
    ...

The rendered prompt follows StarCoder2-Instruct's: the system text, `num_fewshots` examples drawn at random (with
the item's seed), then the item's input and the heading the model continues after; a completion stops at the next
"## Example". For the chat API the examples become user/assistant turns.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

from luacoder.errors import UserError

# mode -> (file stem, input section, output section)
MODES: dict[str, tuple[str, str, str]] = {
    "S->C": ("s_to_c", "Snippet", "Concepts"),
    "C->I": ("c_to_i", "Property", "Instruction"),
    "I->R": ("i_to_r", "Instruction", "Response"),
    # Synthesis aimed at the API (luacoder.selfinstruct.synthesis): drawn entries -> an instruction that needs them,
    # then the instruction with the entries' signatures -> a response with tests.
    "E->I": ("e_to_i", "API", "Instruction"),
    "EI->R": ("ei_to_r", "Task", "Response"),
}
STOP = "## Example"
# Package data (the checkout shows them as data/self_instruct/prompts), so that an installed luacoder has them.
DEFAULT_PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
_HEADING = re.compile(r"^### (System|Example)\s*$")


class PromptFileError(UserError, ValueError):
    """A few-shot prompt file does not follow the format; the message names the file and line."""


@dataclass(frozen=True)
class Example:
    input: str
    output: str


@dataclass(frozen=True)
class FewShotPrompt:
    mode: str
    system: str
    examples: tuple[Example, ...]
    source: str = ""  # the file it was read from

    @property
    def input_name(self) -> str:
        return MODES[self.mode][1]

    @property
    def output_name(self) -> str:
        return MODES[self.mode][2]

    def pick(self, num_fewshots: int, rng: random.Random) -> list[Example]:
        if not 0 <= num_fewshots <= len(self.examples):
            raise ValueError(
                f"{self.source}: {num_fewshots} few-shot examples asked for, the file has {len(self.examples)}"
            )
        return rng.sample(list(self.examples), k=num_fewshots)

    def completion_prompt(self, query: str, examples: list[Example]) -> str:
        """The text a base model continues: the system text, the examples, then the query and the output heading."""
        parts = [self.system]
        for number, example in enumerate(examples, 1):
            parts.append(
                f"## Example {number}\n### {self.input_name}\n{example.input}\n\n### {self.output_name}\n"
                f"{example.output}"
            )
        parts.append(f"## Example {len(examples) + 1}\n### {self.input_name}\n{query}\n\n### {self.output_name}\n")
        return "\n\n".join(parts)

    def chat_messages(self, query: str, examples: list[Example]) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": self.system}]
        for example in examples:
            messages.append({"role": "user", "content": f"### {self.input_name}\n{example.input}"})
            messages.append({"role": "assistant", "content": example.output})
        messages.append({"role": "user", "content": f"### {self.input_name}\n{query}"})
        return messages


def default_prompt_file(mode: str) -> Path:
    return DEFAULT_PROMPTS_DIR / f"{MODES[mode][0]}.txt"


def load_prompt_file(path: str | os.PathLike, mode: str) -> FewShotPrompt:
    """Read and check a few-shot prompt file for `mode` ("S->C", "C->I" or "I->R")."""
    if mode not in MODES:
        raise ValueError(f"unknown self-instruct mode {mode!r}: choose one of {', '.join(MODES)}")
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise PromptFileError(f"{path}: no such prompt file") from None
    except UnicodeDecodeError as exc:
        raise PromptFileError(f"{path}: not valid UTF-8 ({exc.reason})") from None
    blocks: list[tuple[str, int, list[str]]] = []  # (heading, line number, lines)
    for number, line in enumerate(lines, 1):
        heading = _HEADING.match(line)
        if heading:
            blocks.append((heading.group(1), number, []))
        elif blocks:
            blocks[-1][2].append(line)
    systems = [b for b in blocks if b[0] == "System"]
    if len(systems) != 1 or blocks[0][0] != "System":
        raise PromptFileError(f"{path}: expected one '### System' section before the examples, found {len(systems)}")
    system = "\n".join(systems[0][2]).strip()
    if not system:
        raise PromptFileError(f"{path}:{systems[0][1]}: the system text is empty")
    _, input_name, output_name = MODES[mode]
    examples = [_example(path, number, body, input_name, output_name) for _, number, body in blocks[1:]]
    if not examples:
        raise PromptFileError(f"{path}: no '### Example' sections")
    return FewShotPrompt(mode, system, tuple(examples), str(path))


def _example(path: Path, number: int, body: list[str], input_name: str, output_name: str) -> Example:
    expected = [f"[{input_name}]", f"[{output_name}]"]
    # Only the mode's two names are section markers: an I->R response has its own "[Tests]" line.
    markers = [(i, line.strip()) for i, line in enumerate(body) if line.strip() in expected]
    names = [m for _, m in markers]
    if names != expected:
        found = ", ".join(names) or "none"
        raise PromptFileError(
            f"{path}:{number}: an example needs the sections {' then '.join(expected)} (each on its own line);"
            f" found {found}"
        )
    (start_in, _), (start_out, _) = markers
    if any(line.strip() for line in body[:start_in]):
        raise PromptFileError(f"{path}:{number}: text before {expected[0]}")
    text_in = "\n".join(body[start_in + 1 : start_out]).strip("\n").rstrip()
    text_out = "\n".join(body[start_out + 1 :]).strip("\n").rstrip()
    if not text_in.strip() or not text_out.strip():
        raise PromptFileError(f"{path}:{number}: an empty {expected[0] if not text_in.strip() else expected[1]}")
    return Example(text_in, text_out)
