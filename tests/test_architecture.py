"""The house rules (DESIGN.md, "The house"), read from the source with ast: what may import what.

* the library (cnnviz/) never imports streamlit;
* figures and diagnosis work on host-side records: importing them loads no TensorFlow or Keras,
  directly or through the cnnviz modules (and packages) they import;
* the dashboard never imports the command line (cnnviz.cli);
* no import cycles among cnnviz modules, lazy (in-function) imports included;
* a handful of modules directly in cnnviz/, and short dashboard pages.

One test at the end imports figures and diagnosis for real, in a fresh interpreter, as a check on
the source reading.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("tensorflow", "keras", "tf_keras")
MAX_TOP_LEVEL_MODULES = 8
MAX_PAGE_LINES = 260


@dataclass(frozen=True)
class Import:
    target: str  # a dotted module name ("cnnviz.nets.zoo", "tensorflow.python")
    at_import_time: bool  # False for an import inside a function (runs when that function is called)
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources(package: str) -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


ALL = {**sources("cnnviz"), **sources("dashboard")}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(name: str) -> list[Import]:
    """Every import statement of module ``name``, resolved to module names."""
    path = ALL[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def resolve(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module
        base = package.split(".")
        base = base[:len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def visit(nodes, at_import_time: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.extend(Import(a.name, at_import_time, node.lineno) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                module = resolve(node)
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    found.append(Import(sub if sub in ALL else module, at_import_time, node.lineno))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(ast.iter_child_nodes(node), False)
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                continue  # annotations only
            else:
                visit(ast.iter_child_nodes(node), at_import_time)

    visit(ast.parse(path.read_text(encoding="utf-8")).body, True)
    return found


IMPORTS = {name: imports_of(name) for name in ALL}


def parents(name: str) -> list[str]:
    """The packages Python imports before ``name`` (cnnviz, cnnviz.nets for cnnviz.nets.zoo)."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def loaded_by(name: str) -> dict[str, str]:
    """Every module importing ``name`` loads (transitively, at import time) -> one module that imports it."""
    seen: dict[str, str] = {}
    stack = [name]
    while stack:
        current = stack.pop()
        for target in [*(i.target for i in IMPORTS.get(current, ()) if i.at_import_time), *parents(current)]:
            for module in [*parents(target), target]:
                if module not in seen and module != name:
                    seen[module] = current
                    if module in IMPORTS:
                        stack.append(module)
    return seen


def chain(name: str, target: str, via: dict[str, str]) -> str:
    steps = [target]
    while steps[-1] != name and steps[-1] in via:
        steps.append(via[steps[-1]])
    return " <- ".join(steps)


def root(module: str) -> str:
    return module.split(".")[0]


def test_the_reading_finds_what_it_should():
    """The rules below would pass on a reader that found nothing: check it on known facts."""
    assert "cnnviz.training.run" in ALL and "dashboard.views.activations" in ALL
    zoo_imports = {i.target for i in IMPORTS["cnnviz.nets.zoo"] if i.at_import_time}
    assert "keras" in zoo_imports and "cnnviz.nets.layers" in zoo_imports
    lazy = {i.target for i in IMPORTS["cnnviz.nets.optimizers"] if not i.at_import_time}
    assert "keras" in lazy  # make_optimizer's own import
    assert "tensorflow" in {root(m) for m in loaded_by("cnnviz.training.run")}
    assert "streamlit" in {root(i.target) for i in IMPORTS["dashboard.widgets"]}


def test_the_library_never_imports_streamlit():
    offenders = [f"{name}:{i.line}" for name in ALL if name.startswith("cnnviz")
                 for i in IMPORTS[name] if root(i.target) == "streamlit"]
    assert not offenders, f"cnnviz imports streamlit: {offenders}"


@pytest.mark.parametrize("package", ["cnnviz.figures", "cnnviz.diagnosis"])
def test_figures_and_diagnosis_load_no_tensorflow(package):
    modules = [name for name in ALL if name == package or name.startswith(package + ".")]
    assert len(modules) >= 5
    problems = []
    for name in modules:
        via = loaded_by(name)
        problems += [chain(name, m, via) for m in via if m in HEAVY]
        problems += [f"{name}:{i.line} imports {i.target} in a function"
                     for i in IMPORTS[name] if not i.at_import_time and root(i.target) in HEAVY]
    assert not problems, "\n".join(problems)


def test_the_dashboard_never_imports_the_command_line():
    offenders = [f"{name}:{i.line} imports {i.target}" for name in ALL if name.startswith("dashboard")
                 for i in IMPORTS[name] if i.target == "cnnviz.cli" or i.target.startswith("cnnviz.cli.")]
    assert not offenders, offenders


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components with more than one module (each one is an import cycle)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_strongly_connected_finds_a_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_among_cnnviz_modules():
    library = {name for name in ALL if name.startswith("cnnviz")}
    graph = {name: {i.target for i in IMPORTS[name] if i.target in library} - {name} for name in library}
    assert strongly_connected(graph) == []


def test_a_handful_of_modules_directly_in_cnnviz():
    top = sorted(p.name for p in (ROOT / "cnnviz").glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_dashboard_pages_stay_short():
    long_pages = {p.name: n for p in sorted((ROOT / "dashboard" / "views").glob("*.py"))
                  if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_PAGE_LINES}
    assert not long_pages, f"pages over {MAX_PAGE_LINES} lines (move computation into cnnviz): {long_pages}"


def test_importing_figures_and_diagnosis_really_loads_no_tensorflow():
    modules = [name for name in ALL if name.startswith(("cnnviz.figures", "cnnviz.diagnosis"))]
    modules += ["cnnviz.training.resources", "cnnviz.probing.snapshot", "cnnviz.probing.history", "cnnviz.report"]
    code = ("import importlib, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            f"print(sorted(m for m in {HEAVY!r} + ('streamlit',) if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


# Modules of cnnviz.figures that draw no chart of their own: the style itself, the dict-figure
# builder, the cache and the package file.
NOT_CHARTS = {"cnnviz.figures", "cnnviz.figures.style", "cnnviz.figures.specs", "cnnviz.figures.cache"}


def test_every_figure_module_takes_its_look_from_one_style_module():
    """One house look: every chart module styles through cnnviz.figures.style (directly or via the
    playground's map helpers, which call it), and none builds its own template or font table."""
    charts = {name: path for name, path in sources("cnnviz/figures").items() if name not in NOT_CHARTS}
    assert {"cnnviz.figures.activations", "cnnviz.figures.basins", "cnnviz.figures.logits"} <= set(charts)
    for name, path in charts.items():
        loaded = loaded_by(name)
        assert "cnnviz.figures.style" in loaded, f"{name} does not take its look from cnnviz.figures.style"
        text = path.read_text(encoding="utf-8")
        assert "pio.templates" not in text and 'template="plotly_white"' not in text, \
            f"{name} builds its own template instead of using the house style"
