"""The package's stages import only downwards: read <- store <- ask <- draw/run <- api <- cli.

A module may import from its own stage and the stages below it (and the shared top-level
modules such as ``errors``, ``view``, ``atomic``), never from a stage above. The CLI goes
further: it is a client of the API alone, so a command cannot drift from what ``embcli.api``
answers; it imports nothing from ``ask``, ``store``, ``read`` or ``run``, at any depth.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

import embcli

ROOT = Path(embcli.__file__).parent
ORDER = ["read", "store", "ask", "draw", "run", "api", "cli"]
SHARED = {"errors", "view", "atomic", "linalg", "version", "__init__", "__main__"}
#: What the CLI may not reach past the API.
BELOW_THE_API = ("read", "store", "ask", "run")
MODULE_NAME = re.compile(r"embcli(\.\w+)+")
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(path: Path) -> str:
    name = _module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _imports(path: Path, package: str | None = None) -> list[str]:
    """Every module ``path`` imports, anywhere in it (functions included), relative imports
    resolved against ``package``, ``from embcli import x`` counted as ``embcli.x``, and module
    names written as string literals (what ``importlib.import_module`` would be handed)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = package or _package(path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append(module)
            found += [f"{module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and MODULE_NAME.fullmatch(node.value)
        ):
            found.append(node.value)
    return found


def _stage(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "embcli" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in ORDER else None


def _modules(stage: str) -> list[Path]:
    return sorted((ROOT / stage).rglob("*.py"))


def test_every_module_lives_in_a_stage_or_is_shared() -> None:
    loose = [p.stem for p in ROOT.glob("*.py") if p.stem not in SHARED]
    assert loose == [], f"modules outside a stage: {loose}"
    packages = [p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()]
    assert sorted(packages) == sorted(ORDER)


def test_imports_point_only_down_the_stages() -> None:
    bad = []
    for stage in ORDER:
        for path in _modules(stage):
            for module in _imports(path):
                target = _stage(module)
                if target is None:
                    continue
                # draw and run are siblings: neither needs the other
                sibling = {stage, target} == {"draw", "run"}
                if ORDER.index(target) > ORDER.index(stage) or sibling:
                    bad.append(f"{path.relative_to(ROOT)} imports {module}")
    assert bad == []


def test_the_cli_is_a_client_of_the_api_alone() -> None:
    """No ``cli/`` module imports ``ask``, ``store``, ``read`` or ``run``, even inside a function:
    everything a command needs from below is an API method or an API helper."""
    bad = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in _modules("cli")
        for module in _imports(path)
        if _stage(module) in BELOW_THE_API
    ]
    assert bad == []
    uses_api = [p.name for p in _modules("cli") if any(_stage(m) == "api" for m in _imports(p))]
    assert "common.py" in uses_api and len(uses_api) >= 8


@pytest.mark.parametrize(
    "source",
    [
        "from embcli.store.load import open_table",
        "def f():\n    from embcli.ask import answers\n",
        "import embcli.read.sources as s",
        "from embcli import run",
        "from ..ask import words",
        "import importlib\nimportlib.import_module('embcli.store.cache')",
    ],
)
def test_the_import_scan_sees_every_spelling(tmp_path, source) -> None:
    """The check above is only as good as the scan: each way of reaching a lower stage is seen."""
    fake = tmp_path / "probe.py"
    fake.write_text(source, encoding="utf-8")
    assert any(_stage(m) in BELOW_THE_API for m in _imports(fake, "embcli.cli")), source


def test_no_stage_below_imports_the_api_or_the_cli() -> None:
    below = [
        f"{path.relative_to(ROOT)} imports {module}"
        for stage in ORDER[: ORDER.index("api")]
        for path in _modules(stage)
        for module in _imports(path)
        if _stage(module) in ("api", "cli")
    ]
    assert below == []


def test_the_shared_linear_algebra_needs_only_numpy() -> None:
    """``embcli.linalg`` sits below every stage (the store uses it): numpy, scipy for
    Procrustes, threadpoolctl to hold BLAS to one thread, and nothing of embcli."""
    third_party = {m.split(".")[0] for m in _imports(ROOT / "linalg.py")} - STDLIB
    assert third_party <= {"numpy", "scipy", "threadpoolctl"}, third_party


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (never run)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            guard = isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
            todo.extend(child.orelse if guard else [child])  # type: ignore[attr-defined]
    return out


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the embcli modules it imports, anywhere in it (functions included, type-only
    imports not). ``from a import b`` is an edge to ``a.b`` when that is a module, else to
    ``a``; a module named in a string literal (``importlib.import_module``) counts too."""
    base = root.parent
    files = {".".join(_parts(p, base)): p for p in sorted(root.rglob("*.py"))}

    def home(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        named: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - (node.level - 1)]
                    of = ".".join([*parts, *([node.module] if node.module else [])])
                else:
                    of = node.module or ""
                named |= {f"{of}.{a.name}" if f"{of}.{a.name}" in files else of for a in node.names}
            elif isinstance(node, ast.Import):
                named |= {a.name for a in node.names}
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and MODULE_NAME.fullmatch(node.value)
            ):
                named.add(node.value)
        graph[module] = {t for n in named if (t := home(n)) and t != module}
    return graph


def _parts(path: Path, base: Path) -> list[str]:
    parts = list(path.relative_to(base).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of ``graph`` with more than one module (Tarjan's, without
    recursion): each is one import cycle, or several sharing modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                part = []
                while True:
                    top = stack.pop()
                    on.discard(top)
                    part.append(top)
                    if top == node:
                        break
                if len(part) > 1:
                    cycles.append(sorted(part))
    return cycles


def test_no_import_cycle_between_embcli_modules() -> None:
    """No module reaches itself through imports, even through one inside a function: a cycle
    means two modules share one job, and its import order decides what works."""
    assert import_cycles(import_graph()) == []


def test_the_cycle_finder_sees_a_cycle_through_a_function_level_import(tmp_path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "sub" / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "a.py").write_text("from pkg.sub import b\n", encoding="utf-8")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import x\n", encoding="utf-8")
    (pkg / "c.py").write_text("import pkg.a\n", encoding="utf-8")
    (pkg / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n",
        encoding="utf-8",
    )
    (pkg / "e.py").write_text("from pkg import d\n", encoding="utf-8")
    graph = import_graph(pkg)
    assert graph["pkg.d"] == set()  # a type-only import never runs
    assert import_cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]


#: Third-party packages that belong to one stage: the model runs only in ``run/``, and the Hub is
#: asked only through ``read/`` (its client, offline check and typed errors live in read/hub.py).
OWNED_BY = {"torch": "run", "transformers": "run", "huggingface_hub": "read"}
#: Known exceptions, each to be moved to ``run/`` and handed down by the API with the model
#: reference (its pickle policy): ``torch.load`` behind ``--allow-pickle``, and transformers'
#: conversion of slow-tokenizer files at build time. The test fails once one is gone, so the
#: list only shrinks.
NOT_YET_HOME = {"read/pytorch_container.py": "torch", "read/tokens.py": "transformers"}


def _owned_imports(path: Path, package: str | None = None) -> list[str]:
    """The owned third-party packages ``path`` imports, anywhere in it."""
    return sorted({m.split(".")[0] for m in _imports(path, package)} & set(OWNED_BY))


def test_torch_transformers_and_the_hub_client_each_have_one_home() -> None:
    """torch and transformers are imported only under ``run/``, ``huggingface_hub`` only under
    ``read/``, at any depth (a function-level import too)."""
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted(ROOT.rglob("*.py"))
        for name in _owned_imports(path)
        if path.relative_to(ROOT).parts[0] != OWNED_BY[name]
    ]
    assert bad == sorted(f"{path} imports {name}" for path, name in NOT_YET_HOME.items())


def test_draw_only_draws() -> None:
    """``draw/`` gets its numbers from ``ask`` (through the API): it never imports ``read`` or
    ``store`` to read a checkpoint or a cached table itself."""
    bad = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in _modules("draw")
        for module in _imports(path)
        if _stage(module) in ("read", "store")
    ]
    assert bad == []


@pytest.mark.parametrize(
    ("source", "package", "found"),
    [
        ("def f():\n    import torch\n", "embcli.ask", ["torch"]),
        ("from transformers import AutoModel\n", "embcli.api", ["transformers"]),
        (
            "def f():\n    from huggingface_hub import hf_hub_download\n",
            "embcli.ask",
            ["huggingface_hub"],
        ),
        ("import huggingface_hub.utils as u\n", "embcli.store", ["huggingface_hub"]),
        ("import numpy\n", "embcli.ask", []),
    ],
)
def test_the_owned_import_scan_sees_every_spelling(tmp_path, source, package, found) -> None:
    fake = tmp_path / "probe.py"
    fake.write_text(source, encoding="utf-8")
    assert _owned_imports(fake, package) == found
