"""A user's mistake ends a program with one clear message and exit status 2, never a traceback.

    luacoder build-chat --config c.yaml  ->  luacoder build-chat: error: c.yaml: unknown key 'sed'; did you mean ...
    python train.py c.yaml               ->  train.py: error: 'gradient_accumulation_steps' (from c.yaml): must be ...

A mistake is what the user can fix from the message alone: a misspelled key, a value of the wrong type or out of
range, bad YAML, a missing or malformed file, a folder another run holds. The library raises a UserError (ConfigError,
RowError, ApiError, ...) whose message names the file, line or key; each entry point reports it the same way: the
`luacoder` commands (luacoder.cli), the stage scripts (parse_config installs `exit_on_user_errors`), eval.py,
judge.py, generate.py, the demo runner; in a notebook, IPython shows the message alone. Anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import os
import sys

USAGE_ERROR = 2  # the exit status of a user's mistake, as argparse exits for a bad command line


class UserError(Exception):
    """A mistake the user can fix; the message says what is wrong and where (file, line, key)."""

    def _render_traceback_(self) -> list[str]:  # IPython and Jupyter show this instead of a traceback
        return [f"{type(self).__name__}: {self}"]


def report(prog: str, error: BaseException | str, stream=None) -> int:
    """Print `prog: error: message` on stderr (argparse's form); returns USAGE_ERROR, the exit status to give."""
    print(f"{prog}: error: {error}", file=stream or sys.stderr, flush=True)
    return USAGE_ERROR


def is_user_error(name: str) -> bool:
    """Whether an exception class name, as a notebook kernel reports it, names a UserError (of an imported module)."""
    classes = [UserError]
    while classes:
        cls = classes.pop()
        if cls.__name__ == name:
            return True
        classes += cls.__subclasses__()
    return False


def exit_on_user_errors(prog: str | None = None) -> None:
    """From here on, a UserError that ends the program is reported (no traceback) and the exit status is USAGE_ERROR:
    for scripts that run top to bottom without a main() to catch it. Other exceptions keep the usual traceback."""
    if getattr(sys.excepthook, "reports_user_errors", False):
        return
    previous = sys.excepthook
    name = prog or os.path.basename(sys.argv[0] if sys.argv and sys.argv[0] else "python")

    def hook(kind, error, traceback) -> None:
        if not isinstance(error, UserError):
            previous(kind, error, traceback)
            return
        # The process's own stderr: torch.distributed's hook (a torchrun worker's) runs this one with sys.stderr
        # swapped for a buffer it writes out only when this hook returns, and this one does not return.
        report(name, error, sys.__stderr__ or sys.stderr)
        raise SystemExit(USAGE_ERROR)  # Python exits with it, running exit handlers as for sys.exit

    hook.reports_user_errors = True
    sys.excepthook = hook
