"""On-policy preference pairs (luacoder.rl.policy_pairs, `luacoder policy-pairs`): which sampled answers pair up,
what is written and counted. The sampler is replaced by fixed answers here; test_rl_chatml.py samples a real
checkpoint."""

from __future__ import annotations

import json

import pytest
from conftest import BUNDLED_DOCS
from trl.data_utils import is_conversational

from luacoder.apidocs import save_api
from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.cli import main
from luacoder.evaluation.engine import Decoding
from luacoder.grading import grade_answer
from luacoder.grading.api_index import load_index
from luacoder.rl.data import load_preference_dataset
from luacoder.rl.policy_pairs import (
    NO_CLEAN,
    NO_HALLUCINATING,
    NO_LOWER_RECALL,
    PairsSettings,
    PromptRow,
    Sample,
    build_policy_pairs,
    choose_pairs,
    read_prompt_rows,
    save_policy_pairs,
)


@pytest.fixture(scope="module")
def api_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "api.json"
    save_api(read_markdown_docs([BUNDLED_DOCS], name="lua54"), path)
    return path


@pytest.fixture(scope="module")
def index(api_path):
    return load_index(api_path)


def lua(code: str) -> str:
    return f"```lua\n{code}\n```"


CLEAN_FULL = lua('print(string.rep("ab", 3))')  # recall 1 of string.rep
CLEAN_NONE = lua('print("ababab")')  # clean, but calls nothing that was asked
MEMBER = lua('print(string.repeat("ab", 3))')  # hallucinated member, recall 0
GLOBAL_FULL = lua('print(string.rep("ab", 3), trim(" x "))')  # undefined global, recall 1
ARITY = lua('print(string.rep("ab"))')  # neither clean nor hallucinating
BROKEN = lua("print(string.rep(")  # does not parse
PROSE = "Use a loop."


def samples(index, *answers, expected=("string.rep",)) -> list[Sample]:
    return [Sample(a, 10, grade_answer(a, index, expected)) for a in answers]


def test_the_best_clean_answer_meets_each_distinct_hallucination_not_above_its_recall(index):
    pairs, reason = choose_pairs(samples(index, CLEAN_NONE, MEMBER, CLEAN_FULL, MEMBER, GLOBAL_FULL, ARITY), 3)
    assert reason == ""
    # string.rep's clean answer (recall 1) is chosen over the earlier one that calls nothing asked for; the
    # hallucinations come closest recall first (the global at 1, then the member at 0), each once.
    assert [(c.text, r.text) for c, r in pairs] == [(CLEAN_FULL, GLOBAL_FULL), (CLEAN_FULL, MEMBER)]
    pairs, _ = choose_pairs(samples(index, CLEAN_FULL, MEMBER, GLOBAL_FULL), 1)
    assert [(c.text, r.text) for c, r in pairs] == [(CLEAN_FULL, GLOBAL_FULL)]
    # With undefined globals not counted (eval's count_undefined_globals: false), the global is not a mistake.
    pairs, _ = choose_pairs(samples(index, CLEAN_FULL, GLOBAL_FULL, MEMBER), 2, count_undefined_globals=False)
    assert [r.text for _, r in pairs] == [MEMBER]


def test_prompts_without_a_pair_say_why(index):
    assert choose_pairs(samples(index, MEMBER, ARITY, BROKEN, PROSE)) == ([], NO_CLEAN)
    assert choose_pairs(samples(index, CLEAN_FULL, ARITY, BROKEN, PROSE)) == ([], NO_HALLUCINATING)
    # The only clean answer calls nothing asked for, the hallucination does: pairing them would punish recall.
    assert choose_pairs(samples(index, CLEAN_NONE, GLOBAL_FULL)) == ([], NO_LOWER_RECALL)
    # A prompt that expects nothing: recall does not decide, the earliest clean answer is chosen.
    pairs, _ = choose_pairs(samples(index, CLEAN_NONE, CLEAN_FULL, GLOBAL_FULL, expected=()))
    assert [(c.text, r.text) for c, r in pairs] == [(CLEAN_NONE, GLOBAL_FULL)]


class FixedSampler:
    """Stands in for sample_answers: fixed answers per question, and a record of what it was asked."""

    def __init__(self, answers: dict[str, list[str]]):
        self.answers, self.calls = answers, []

    def __call__(self, checkpoint, conversations, samples_per_prompt, seed, decoding, **options):
        self.calls.append((checkpoint, conversations, samples_per_prompt, seed, decoding, options))
        options["progress"](len(conversations))
        return [[(a, 7) for a in self.answers[c[-1]["content"]][:samples_per_prompt]] for c in conversations]


def test_pairs_are_built_counted_and_saved_as_trl_preference_rows(index, api_path, tmp_path):
    chat = tmp_path / "chat.jsonl"
    chat.write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "Repeat ab three times."},
                    {"role": "assistant", "content": CLEAN_FULL},
                ]
            }
        )
        + "\n"
    )
    csv = tmp_path / "train_prompts.csv"
    csv.write_text("prompt,expected_apis\nUpper-case lua.,string.upper\nJoin a list.,table.concat\n")
    settings = PairsSettings(samples_per_prompt=3, pairs_per_prompt=2, system_prompt="You write Lua.")
    prompts = read_prompt_rows([chat, csv], index, settings)
    assert [(p.source, p.expected_apis) for p in prompts] == [
        ("chat.jsonl", ["print", "string.rep"]),  # what the chat row's answer calls correctly
        ("train_prompts.csv", ["string.upper"]),
        ("train_prompts.csv", ["table.concat"]),
    ]
    sampler = FixedSampler(
        {
            "Repeat ab three times.": [MEMBER, CLEAN_FULL, GLOBAL_FULL],
            "Upper-case lua.": [lua('print(string.upper("lua"))'), lua('print(("lua"):toUpper())'), ARITY],
            "Join a list.": [MEMBER, BROKEN, PROSE],
        }
    )
    rows, logged, report = build_policy_pairs("ckpt", index, prompts, settings, sampler=sampler)
    ((checkpoint, conversations, n, seed, decoding, options),) = sampler.calls
    assert (checkpoint, n, seed, decoding.do_sample, options["batch_size"]) == ("ckpt", 3, 42, True, 8)
    assert conversations[1] == [
        {"role": "system", "content": "You write Lua."},
        {"role": "user", "content": "Upper-case lua."},
    ]
    assert [r["rejected"][0]["content"] for r in rows] == [GLOBAL_FULL, MEMBER, lua('print(("lua"):toUpper())')]
    assert rows[0]["detail"] == "rejected calls trim (undefined global)"
    assert rows[2]["detail"] == "rejected calls string.toUpper (hallucinated)"
    summary = report.to_dict()
    assert summary["prompts"] == 3 and summary["prompts_with_a_pair"] == 2 and summary["pairs"] == 3
    assert summary["by_file"] == {
        "chat.jsonl": {"prompts": 1, "prompts_with_a_pair": 1},
        "train_prompts.csv": {"prompts": 2, "prompts_with_a_pair": 1},
    }
    assert summary["unpaired"] == {NO_CLEAN: 1}
    assert (summary["samples"], summary["clean_samples"], summary["hallucinating_samples"]) == (9, 2, 4)
    assert summary["generated_tokens"] == 63 and len(logged) == 9
    assert logged[5] == {
        "prompt_number": 1,
        "source": "train_prompts.csv",
        "question": "Upper-case lua.",
        "expected_apis": ["string.upper"],
        "answer": ARITY,
        "new_tokens": 7,
        "clean": False,
        "hallucinating": False,
        "hallucinated_names": [],
        "undefined_globals": [],
        "arity_error_names": ["string.rep"],
        "has_code": True,
        "syntax_valid": True,
        "expected_recall": 0.0,
    }

    about = {"checkpoint": "ckpt", "api_path": str(api_path), "seed": 0, "system_prompt": "You write Lua."}
    about |= {"samples_per_prompt": 3, "pairs_per_prompt": 2, "count_undefined_globals": True}
    about |= {"temperature": 1.0, "top_p": 0.95, "top_k": 50, "max_new_tokens": 256}
    out = tmp_path / "pairs"
    (out / "old").mkdir(parents=True)  # a previous run's folder is replaced whole
    path = save_policy_pairs(out, rows, logged, report, about)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "samples.jsonl", "summary.json", "train.jsonl"]
    card = (out / "README.md").read_text()
    assert "| train_prompts.csv | 2 | 1 |" in card and "| all | 3 | 2 |" in card and f"| {NO_CLEAN} | 1 |" in card
    dataset = load_preference_dataset(path)  # what dpo.py reads: TRL's conversational preference rows
    assert len(dataset) == 3 and is_conversational(dataset[0])
    assert dataset[0]["prompt"][0] == {"role": "system", "content": "You write Lua."}


def test_a_seeded_choice_of_each_files_prompts(index, tmp_path):
    csv = tmp_path / "many.csv"
    csv.write_text("prompt,expected_apis\n" + "".join(f"Task {i}.,string.rep\n" for i in range(20)))
    settings = PairsSettings(prompts_per_file=5, seed=3)
    chosen = [p.conversation[-1]["content"] for p in read_prompt_rows([csv], index, settings)]
    again = [p.conversation[-1]["content"] for p in read_prompt_rows([csv], index, settings)]
    assert len(chosen) == 5 and chosen == again
    assert chosen != [f"Task {i}." for i in range(5)]  # a sample, in file order
    assert chosen == sorted(chosen, key=lambda q: int(q.split()[1][:-1]))


def test_settings_and_bad_input_are_refused_plainly(api_path, tmp_path, capsys):
    with pytest.raises(ValueError, match="samples_per_prompt must be at least 2"):
        PairsSettings(samples_per_prompt=1)
    with pytest.raises(ValueError, match="need sampled answers"):
        PairsSettings(decoding=Decoding(do_sample=False))
    base = ["policy-pairs", "--model_name_or_path", str(tmp_path), "--output_dir", str(tmp_path / "out")]
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Repeat ab.\n")
    assert main([*base, "--api_path", str(api_path), "--prompt_files", str(prompts)]) == 1
    error = capsys.readouterr().err
    assert "prompts.txt: prompts must be a .csv (prompt, expected_apis) or chat rows in .jsonl" in error
    csv = tmp_path / "prompts.csv"
    csv.write_text("prompt,expected_apis\nRepeat ab.,string.repeat\n")
    assert main([*base, "--api_path", str(api_path), "--prompt_files", str(csv)]) == 1
    assert "string.repeat" in capsys.readouterr().err
    assert main([*base, "--api_path", str(tmp_path / "missing.json"), "--prompt_files", str(csv)]) == 1
    assert "missing.json" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_prompt_rows_keep_the_conversation_before_the_last_answer(index, tmp_path):
    rows = tmp_path / "chat.jsonl"
    messages = [
        {"role": "user", "content": "Repeat ab."},
        {"role": "assistant", "content": CLEAN_FULL},
        {"role": "user", "content": "Now upper case."},
        {"role": "assistant", "content": lua('print(string.upper("ab"))')},
    ]
    rows.write_text(json.dumps({"messages": messages}) + "\n")
    (prompt,) = read_prompt_rows([rows], index, PairsSettings())
    assert prompt == PromptRow(messages[:3], ["print", "string.upper"], "chat.jsonl")


def test_the_natural_style_training_prompts_hold_for_the_bundled_docs(index):
    from conftest import REPO

    from luacoder.evaluation.prompts import read_eval_prompts

    prompts = read_eval_prompts(REPO / "data" / "lua54_rl_train_prompts.csv", index)  # each expected API documented
    assert len(prompts) >= 80 and len({p.prompt for p in prompts}) == len(prompts)
    assert all(p.expected_apis for p in prompts)


def test_the_training_prompts_share_no_five_word_run_with_any_eval_prompt_set():
    """RL trains on prompts eval never asks: no run of five words in common with a shipped eval set (the natural
    questions), which the data builders also keep out of every training row."""
    import re

    from conftest import REPO

    from luacoder.evaluation.prompts import read_prompts, shipped_prompt_sets

    def runs(text: str) -> set[tuple[str, ...]]:
        words = re.findall(r"\w+", text.lower())
        return {tuple(words[i : i + 5]) for i in range(len(words) - 4)}

    eval_runs = set().union(*(runs(p) for path in shipped_prompt_sets() for p in read_prompts(path)))
    assert eval_runs
    shared = [p for p in read_prompts(REPO / "data" / "lua54_rl_train_prompts.csv") if runs(p) & eval_runs]
    assert shared == []
