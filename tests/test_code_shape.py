"""The package stays small enough to read: no module over 300 lines, no function over 60 (DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import rlgan_ls

PACKAGE = Path(rlgan_ls.__file__).parent
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60


def test_modules_and_functions_stay_small() -> None:
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        name = path.relative_to(PACKAGE.parent)
        if len(source.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{name}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}:{node.lineno} {node.name}(): {lines} lines")
    assert not too_long, "split these: " + "; ".join(too_long)
