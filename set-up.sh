#!/usr/bin/env bash
# LuaCoder set-up: the only set-up a fresh machine needs (Python 3.10+).
#
#   ./set-up.sh [--env data|train|eval|all] [--venv DIR] [--locked]
#         create (or update) the virtual environment and install that environment's requirements
#         and the luacoder library (editable). Default: --env all --venv .venv
#   ./set-up.sh test [pytest arguments...]
#         set up `all` + dev tools, then run the test suite
#   ./set-up.sh demo [runs/demo.py arguments...]
#         set up `all` (locked), then run the whole pipeline on the bundled Lua 5.4 docs with a tiny model
#         on the CPU (outputs/demo); `./set-up.sh demo --help` lists its options
#
# Environment variables:
#   PYTHON         the interpreter that creates the venv (default: python3)
#   TORCH_VERSION  torch installed when the venv has none (default: 2.13.0); an existing torch,
#                  for example a CUDA build you installed yourself, is kept
#
# Running it again is safe: it only installs what is missing or out of date.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
VENV=".venv"
ENV_NAME="all"
LOCKED=0
COMMAND="setup"
PASS_ARGS=()

say() { printf '\033[1m[set-up]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[set-up] error:\033[0m %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }

if [[ $# -gt 0 && ( "$1" == "test" || "$1" == "demo" ) ]]; then
  COMMAND="$1"; ENV_NAME="all"; LOCKED=1; shift
  PASS_ARGS=("$@"); set --
fi
while [[ $# -gt 0 ]]; do
  case "$1" in
    --env) [[ $# -ge 2 ]] || die "--env needs a value (data, train, eval or all)"; ENV_NAME="$2"; shift 2 ;;
    --env=*) ENV_NAME="${1#*=}"; shift ;;
    --venv) [[ $# -ge 2 ]] || die "--venv needs a directory"; VENV="$2"; shift 2 ;;
    --venv=*) VENV="${1#*=}"; shift ;;
    --locked) LOCKED=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done

case "$ENV_NAME" in
  data) REQS=(requirements/data.txt); NEEDS_TORCH=0 ;;
  train) REQS=(requirements/train.txt); NEEDS_TORCH=1 ;;
  eval) REQS=(requirements/eval.txt); NEEDS_TORCH=1 ;;
  all) REQS=(requirements/data.txt requirements/train.txt requirements/eval.txt); NEEDS_TORCH=1 ;;
  *) die "unknown environment '$ENV_NAME': choose data, train, eval or all" ;;
esac
[[ "$COMMAND" == "test" ]] && REQS+=(requirements/dev.txt)

# --- the interpreter and the venv ---------------------------------------------------------------------------
command -v "$PYTHON" >/dev/null || die "'$PYTHON' not found: install Python 3.10 or newer, or set PYTHON=/path/to/python"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || die "$("$PYTHON" --version 2>&1) is too old: LuaCoder needs Python 3.10 or newer (set PYTHON=...)"

if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating the virtual environment $VENV with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv "$VENV" || die "could not create the virtual environment in $VENV (on Debian: apt-get install python3-venv)"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

pip_install() {  # pip_install <what, for messages> <pip arguments...>
  local what="$1"; shift
  if ! "${PIP[@]}" install --quiet "$@"; then
    die "installing $what failed (pip install $*); pip's message above names the package"
  fi
}

# --- torch first, pinned, so that pip never resolves plain `torch` to a multi-GB build ------------------------
if [[ "$NEEDS_TORCH" == 1 ]]; then
  if "$PY" -c 'import torch' 2>/dev/null; then
    say "keeping the installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
  else
    say "installing torch==$TORCH_VERSION (set TORCH_VERSION to choose another)"
    pip_install "torch==$TORCH_VERSION" "torch==$TORCH_VERSION"
  fi
fi

# --- requirements, optionally pinned to the versions the tests passed with -------------------------------------
CONSTRAINTS=()
if [[ "$LOCKED" == 1 ]]; then
  locked_py="$(sed -n 's/^# python: *//p' requirements/constraints.txt)"
  this_py="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  if [[ "$locked_py" == "$this_py" ]]; then
    CONSTRAINTS=(-c requirements/constraints.txt)
  else
    say "requirements/constraints.txt was recorded with Python $locked_py, this is $this_py: installing unpinned"
  fi
fi
REQ_ARGS=()
for r in "${REQS[@]}"; do REQ_ARGS+=(-r "$r"); done
say "installing the '$ENV_NAME' environment: ${REQS[*]}"
pip_install "the requirements of ${REQS[*]}" "${REQ_ARGS[@]}" "${CONSTRAINTS[@]}"

say "installing the luacoder library (editable)"
pip_install "the luacoder library" --no-deps -e .

"$PY" -c 'import luacoder' || die "the luacoder library does not import from $VENV"
say "ready: activate with 'source $VENV/bin/activate'"

# --- the test suite -------------------------------------------------------------------------------------------
if [[ "$COMMAND" == "test" ]]; then
  # Two workers (pytest-xdist), a test file at a time to each, unless the arguments choose (-n 0: one process). Most
  # tests are one Python process on one core (tests/conftest.py gives each worker one torch thread); multi-process
  # DeepSpeed launches take turns (tests/stage_helpers.py).
  WORKERS=(-n 2 --dist loadfile)
  for arg in "${PASS_ARGS[@]}"; do
    [[ "$arg" == -n* || "$arg" == --numprocesses* || "$arg" == no:xdist ]] && WORKERS=()
  done
  say "running the test suite${WORKERS:+ (${WORKERS[*]})}"
  started=$SECONDS
  set +e
  "$PY" -m pytest "${WORKERS[@]}" "${PASS_ARGS[@]}"
  rc=$?
  set -e
  say "the test suite took $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s (wall)"
  if [[ $rc == 5 ]]; then
    die "pytest collected no tests: that is a failure, not a pass"
  elif [[ $rc != 0 ]]; then
    die "the test suite failed (pytest exit code $rc)"
  fi
  say "all tests passed"
fi

# --- the demo -------------------------------------------------------------------------------------------------
if [[ "$COMMAND" == "demo" ]]; then
  say "running the demo: docs -> datasets -> tiny model -> pretrain -> chat -> eval (outputs/demo)"
  exec "$VENV/bin/python" "$ROOT/runs/demo.py" "${PASS_ARGS[@]}"
fi
