"""`luacoder grade FILE --api_path api.json`: every call of a Lua (or Markdown) file, graded against an API."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grade", help="print every function call of a file as JSON with its grade against an API")
    p.add_argument("file", type=Path, help="a .lua file, or a Markdown file (.md, .markdown) with Lua code blocks")
    p.add_argument("--api_path", type=Path, required=True, help="api.json (or JSON docs): grade each call against it")
    p.set_defaults(func=grade_command)


def grade_command(args: argparse.Namespace) -> int:
    from luacoder.apidocs.json_docs import read_json_docs
    from luacoder.grading.api_index import ApiIndex
    from luacoder.lua.commands import calls_command

    index = ApiIndex(read_json_docs(args.api_path))  # an ApiError is reported by luacoder.cli

    def grader(code):
        report = index.calls_of(code)
        assigned = report.assigned | {name.split(".")[0].split(":")[0] for name in report.defined}

        def fields(call) -> dict:
            match = index.classify(call, assigned=assigned)
            # local, matched, standard, hallucinated, undefined or other
            row = {"status": index.status(call, assigned=assigned), "grade": match.kind}
            if match.kind in ("matched", "standard"):
                row["entries"], row["arity_ok"] = list(match.entries), match.arity_ok
            elif match.reason:
                row["reason"] = match.reason
            return row

        return report, fields

    return calls_command(args, grader)
