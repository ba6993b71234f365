"""The package's stages import only downwards: read <- store <- ask <- draw/run <- cli.

A module may import from its own stage and the stages below it (and the shared top-level
modules ``errors``, ``view`` and ``atomic``), never from a stage above. This keeps the design
visible in the tree: a change to how bytes are read never needs the CLI, and the CLI is never
needed by the math.
"""

from __future__ import annotations

import ast
from pathlib import Path

import embcli

ROOT = Path(embcli.__file__).parent
ORDER = ["read", "store", "ask", "draw", "run", "cli"]
SHARED = {"errors", "view", "atomic", "__init__", "__main__"}


def _stage(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "embcli" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in ORDER else None


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names if node.module == "embcli"]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return found


def test_every_module_lives_in_a_stage_or_is_shared() -> None:
    loose = [p.stem for p in ROOT.glob("*.py") if p.stem not in SHARED and p.stem != "api"]
    assert loose == [], f"modules outside a stage: {loose}"


def test_imports_point_only_down_the_stages() -> None:
    bad = []
    for stage in ORDER:
        for path in (ROOT / stage).rglob("*.py"):
            for module in _imports(path):
                target = _stage(module)
                if target is None:
                    continue
                # draw and run are siblings: neither needs the other
                sibling = {stage, target} == {"draw", "run"}
                if ORDER.index(target) > ORDER.index(stage) or sibling:
                    bad.append(f"{path.relative_to(ROOT)} imports {module}")
    assert bad == []


def test_api_is_a_client_of_the_stages_and_never_of_the_cli() -> None:
    """``embcli.api`` may use every stage but the CLI; the CLI may use it; no stage below may."""
    api = _imports(ROOT / "api.py")
    assert [m for m in api if m == "embcli.cli" or m.startswith("embcli.cli.")] == []
    below = []
    for stage in ORDER[:-1]:
        for path in (ROOT / stage).rglob("*.py"):
            if any(m == "embcli.api" for m in _imports(path)):
                below.append(str(path.relative_to(ROOT)))
    assert below == []
    # The CLI is allowed to import the API (it is its first client).
    assert _stage("embcli.api") is None
