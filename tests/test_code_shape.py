"""The package stays small enough to read (DESIGN.md): no module over 300 lines, no function over 60, and
none with more than 6 parameters outside the loss core (whose public signatures follow torch.nn.functional);
a config object or the run object carries the rest. File names of a run are spelled in runs.py alone."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import rlgan_ls

PACKAGE = Path(rlgan_ls.__file__).parent
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60
MAX_PARAMETERS = 6
LOSS_CORE = {"smoothing.py", "losses.py", "metrics.py"}


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    a = node.args
    names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs if x.arg not in ("self", "cls")]
    return names + [x.arg for x in (a.vararg, a.kwarg) if x is not None]


def _modules() -> list[tuple[Path, str]]:
    return [(path, path.read_text()) for path in sorted(PACKAGE.rglob("*.py"))]


def test_modules_and_functions_stay_small() -> None:
    too_long = []
    for path, source in _modules():
        name = path.relative_to(PACKAGE.parent)
        if len(source.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{name}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}:{node.lineno} {node.name}(): {lines} lines")
                if path.parent == PACKAGE and path.name in LOSS_CORE:
                    continue
                if len(params := _parameters(node)) > MAX_PARAMETERS:
                    too_long.append(f"{name}:{node.lineno} {node.name}(): {len(params)} parameters")
    assert not too_long, "split these: " + "; ".join(too_long)


def test_file_names_are_spelled_in_one_module_each() -> None:
    for name, home in (("config.json", "runs.py"), ("metrics.json", "runs.py"), ("student.json", "runs.py"),
                       ("last.safetensors", "runs.py"), ("samples.gif", "runs.py"), ("sweep.json", "experiments.py")):
        pattern = re.compile(rf"""["'][\w/]*{re.escape(name)}["']""")
        spelled = [str(path.relative_to(PACKAGE)) for path, source in _modules() if pattern.search(source)]
        assert spelled == [home], name


def test_the_parameter_rule_counts_what_it_should() -> None:
    tree = ast.parse("def f(a, b=1, *args, c, d=2, **kw): pass\nclass K:\n    def m(self, x): pass")
    f, m = tree.body[0], tree.body[1].body[0]  # type: ignore[attr-defined]
    assert _parameters(f) == ["a", "b", "c", "d", "args", "kw"] and _parameters(m) == ["x"]


def test_architecture_doc_names_every_module() -> None:
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    missing = [str(p.relative_to(PACKAGE.parent)) for p, _ in _modules()
               if f"`{p.relative_to(PACKAGE.parent)}`" not in doc]
    assert not missing, f"docs/architecture.md does not name {missing}"
