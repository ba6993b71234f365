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
SHARED = {"errors", "view", "atomic", "linalg", "__init__", "__main__"}
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
