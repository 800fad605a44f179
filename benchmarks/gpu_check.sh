#!/usr/bin/env bash
# The GPU check on a machine with a stock PyTorch + transformers install and no network:
#
#     bash benchmarks/gpu_check.sh [gpu_check.py options, e.g. -o gpu_check.json]
#
# It installs the project's other packages from the wheels in $WHEELS (default: .whl/ in the checkout) into
# /tmp/luacoder-site, then runs benchmarks/gpu_check.py. Make that folder on a machine that has the network (for
# Python 3.12 on x86-64 Linux; 23 MB):
#
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#         --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#         trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 hjson==3.1.0 pydantic==2.14.3 \
#         pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5 lupa==2.8 tree-sitter==0.26.1 \
#         tree-sitter-lua==0.5.0 datasketch==2.0.0 transformers==5.23.0
#     python3 -m pip wheel --no-deps --no-build-isolation -w .whl deepspeed==0.19.8   # sdist only on PyPI; needs torch
#
# Those are what a CUDA image with torch, accelerate, peft, safetensors, tokenizers, numpy, pandas,
# pyarrow, scipy and markdown-it-py lacks, and the transformers the tests pass with (an older one may lack
# TrainingArguments.activation_checkpointing). Add flash-attn and vllm wheels matching its torch and CUDA to measure them.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wheels="${WHEELS:-$repo/.whl}"
if compgen -G "$wheels/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/luacoder-site \
        "$wheels"/*.whl
    export PYTHONPATH="/tmp/luacoder-site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$repo:$PYTHONPATH" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
exec python3 "$repo/benchmarks/gpu_check.py" "$@"
