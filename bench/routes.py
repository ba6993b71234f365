"""Issue 25: the route a value takes through embcli, from where it enters down through the calls.

A value is followed from an entry function's parameters down through the calls, two ways at
once. By data flow, read from the source: a parameter holds the value when its call site passed
a name holding it, or an attribute of one (``ref.tensor``); a local holds it when assigned such
an expression or a value object built from one (``Choice(file, quant)``, ``ref.but(...)``); a
closure's free variable when the frame that made it held that name. This follows None and
False too, which identity cannot. By identity: the value itself and, when it is an object (a
``ModelRef``, a ``Space``), each of its attributes that can be told apart by identity (not None,
a bool, a small int or an interned string), and any argument holding one as an attribute (a
carrier). Every call of an embcli function, while the entry call runs, that receives the value
is a *stop* (one per call, under every name it was handed); the methods of the value's own
class are not (that is where it lives). For the route the script prints:

- stops: how many calls received the value; functions: how many distinct functions;
- modules: distinct modules; names: distinct parameter names it was passed under; parameters:
  distinct (function, parameter) pairs, how many places spell it out;
- up: how often the next stop is in a higher layer than the last (the layers of DEVELOPERS.md,
  read < store < ask/run < draw < api < cli; the shared modules below read);
- returns: how often the next stop is in a module the route had left before.

Two routes, each on a tiny generated model in a fresh cache (tests/models.py):

1. ``ref``: the model argument of ``embcli.store.load.open_table``, through a cold build of a
   Llama's input table and then of its untied output head (``Model.embeddings``).
2. ``remove_pcs``: ``Table.neighbors(word, remove_pcs=N)`` on a planted table, N an int outside
   CPython's small-int cache so that it is one object; ``--space-keyword`` follows another
   keyword (``center``...).

Run against any checkout: PYTHONPATH=/work/main python bench/routes.py [--verbose]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import itertools
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # tests.models; embcli itself from PYTHONPATH when it is set

LAYERS = {"read": 0, "store": 1, "ask": 2, "run": 2, "draw": 3, "api": 4, "cli": 5}


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], -1) if len(parts) > 1 else -1


def trackable(value: Any) -> bool:
    """Whether ``value`` is one object of its own, told apart from equal values by identity."""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not -5 <= value <= 256
    if isinstance(value, str):
        copy = (value + ".")[:-1]  # interning a copy leaves ``value`` itself as it was
        return value != "" and sys.intern(copy) is not value
    return True


def attributes(value: Any) -> list[Any]:
    """The direct attribute values of an object (its ``__dict__`` and slots), no properties."""
    if isinstance(value, (str, bytes, int, float, tuple, list, dict, set, np.ndarray)):
        return []
    found = []
    state = getattr(value, "__dict__", None)
    if isinstance(state, dict):
        found += list(state.values())
    for cls in type(value).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            with contextlib.suppress(AttributeError):
                found.append(object.__getattribute__(value, slot))
    return found


@dataclasses.dataclass
class Stop:
    module: str
    function: str
    names: tuple[str, ...]
    carried: bool


class Flow:
    """Which locals of a running function hold the followed value: data flow read from the
    source. A parameter holds it when the call site passed a name that holds it (or an
    attribute of one: ``ref.tensor``, ``self.ref``); a local does when it is assigned such an
    expression, or a value object built from one (``Choice(file, quant)``, ``ref.but(...)``)."""

    def __init__(self) -> None:
        self.trees: dict[str, dict[tuple[int, int, int, int], ast.Call]] = {}
        self.aliases: dict[tuple[Any, frozenset[str]], frozenset[str]] = {}

    def call_at(self, frame: Any) -> ast.Call | None:
        """The call expression ``frame`` is executing now (its last instruction's position)."""
        code = frame.f_code
        if code.co_filename not in self.trees:
            calls = {}
            try:
                tree = ast.parse(Path(code.co_filename).read_text(encoding="utf-8"))
            except (OSError, SyntaxError, ValueError):
                tree = ast.Module(body=[], type_ignores=[])
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    where = (node.lineno, node.end_lineno, node.col_offset, node.end_col_offset)
                    calls[where] = node  # type: ignore[index]
            self.trees[code.co_filename] = calls
        positions = list(code.co_positions())
        index = frame.f_lasti // 2
        if index >= len(positions):
            return None
        return self.trees[code.co_filename].get(positions[index])  # type: ignore[arg-type]

    def held(self, code: Any, params: frozenset[str]) -> frozenset[str]:
        """The locals of ``code`` holding the value when ``params`` do (static, to a fixpoint)."""
        key = (code, params)
        if key not in self.aliases:
            names = set(params)
            body = _function_node(code)
            for _ in range(4):
                for node in ast.walk(body) if body is not None else ():
                    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                        for target, value in _pairs(targets, node.value):
                            if _carries(value, names) and isinstance(target, ast.Name):
                                names.add(target.id)
            self.aliases[key] = frozenset(names)
        return self.aliases[key]


def _pairs(targets: list[ast.expr], value: ast.expr) -> list[tuple[ast.expr, ast.expr]]:
    out = []
    for target in targets:
        if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
            out += list(zip(target.elts, value.elts, strict=False))
        elif isinstance(target, ast.Tuple):
            out += [(t, value) for t in target.elts]
        else:
            out.append((target, value))
    return out


def _root(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _carries(node: ast.expr | None, names: set[str] | frozenset[str]) -> bool:
    """Whether the expression is the value (a name holding it, an attribute of one, a choice
    between such) or a value object built from it (a capitalised constructor, a method of it)."""
    if node is None:
        return False
    if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Starred)):
        return _root(node) in names
    if isinstance(node, ast.BoolOp):
        return any(_carries(v, names) for v in node.values)
    if isinstance(node, ast.IfExp):
        return _carries(node.body, names) or _carries(node.orelse, names)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and _root(func) in names:
            return True  # ref.but(...), ModelRef.of(model) is below
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        built = called[:1].isupper() or called == "of"
        args = [*node.args, *(k.value for k in node.keywords)]
        return built and any(_carries(a, names) for a in args)
    return False


_FUNCTIONS: dict[Any, ast.AST | None] = {}


def _function_node(code: Any) -> ast.AST | None:
    if code not in _FUNCTIONS:
        found = None
        try:
            tree = ast.parse(Path(code.co_filename).read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                functions = (ast.FunctionDef, ast.Lambda, ast.AsyncFunctionDef)
                first = getattr(node, "decorator_list", None) or [node]
                if isinstance(node, functions) and code.co_firstlineno in (
                    node.lineno,
                    first[0].lineno,
                ):
                    found = node
                    break
        except (OSError, SyntaxError, ValueError):
            pass
        _FUNCTIONS[code] = found
    return _FUNCTIONS[code]


def follow(entry: str, parameters: str, action: Callable[[], Any]) -> list[Stop]:
    """Run ``action`` and record the route of the values of ``parameters`` (comma-separated
    names; those the entry lacks are skipped) from the first call of ``entry``
    ("module:qualname") until that call returns: by data flow (:class:`Flow`) and by identity
    (the values, their attributes, and objects holding one as an attribute)."""
    module_name, qualname = entry.split(":")
    tracked: dict[int, Any] = {}
    stops: list[Stop] = []
    errors: list[str] = []
    state: dict[str, Any] = {"frame": None}
    flow = Flow()
    holding: dict[Any, frozenset[str]] = {}  # frame -> its locals that hold the value

    def arguments(frame: Any) -> list[tuple[str, Any]]:
        code = frame.f_code
        n = code.co_argcount + code.co_kwonlyargcount
        n += bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)  # *args, **kwargs
        return [(name, frame.f_locals.get(name)) for name in code.co_varnames[:n]]

    def same(value: Any) -> bool:
        return id(value) in tracked and tracked[id(value)] is value

    def passed(frame: Any) -> set[str]:
        """The callee's parameters the call site handed the value to."""
        caller = frame.f_back
        if caller is None or caller not in holding:
            return set()
        names = holding[caller]
        call = flow.call_at(caller)
        if call is None:
            return set()
        code = frame.f_code
        params = list(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
        bound = params[:1] in (["self"], ["cls"]) and isinstance(call.func, ast.Attribute)
        shift = 1 if bound else 0
        got = set()
        for i, arg in enumerate(call.args):
            if _carries(arg, names) and i + shift < len(params):
                got.add(params[i + shift])
        for kw in call.keywords:
            if kw.arg is not None and kw.arg in params and _carries(kw.value, names):
                got.add(kw.arg)
        return got

    def free(frame: Any) -> set[str]:
        """A closure's free variables that hold the value in the frame that made it."""
        got = set()
        for name in frame.f_code.co_freevars:
            outer = frame.f_back
            while outer is not None:
                if name in outer.f_code.co_cellvars and outer in holding:
                    if name in holding[outer]:
                        got.add(name)
                    break
                outer = outer.f_back
        return got

    def profile(frame: Any, event: str, arg: Any) -> None:
        try:
            look(frame, event)
        except Exception as exc:  # a failing profile function would switch profiling off
            errors.append(f"{frame.f_code.co_qualname}: {exc!r}")

    def look(frame: Any, event: str) -> None:
        if event != "call":
            if event == "return":
                holding.pop(frame, None)
                if frame is state["frame"]:
                    state["frame"] = None
            return
        module = frame.f_globals.get("__name__", "")
        if not module.startswith("embcli"):
            return
        entering = False
        if state["frame"] is None:
            if stops or module != module_name or frame.f_code.co_qualname != qualname:
                return
            for parameter in parameters.split(","):
                value = frame.f_locals.get(parameter)
                for v in [value, *attributes(value)]:
                    if trackable(v):
                        tracked[id(v)] = v
            state["frame"] = frame
            entering = True
        if "__create_fn__" in frame.f_code.co_qualname:  # a dataclass's generated __init__
            return
        own = {type(v).__qualname__ for v in tracked.values() if type(v).__module__ == module}
        if not entering and frame.f_code.co_qualname.partition(".")[0] in own:
            return  # the value's own class (ModelRef.of, Space.cosines): where it lives already
        given = set(parameters.split(",")) if entering else passed(frame)
        names, carried = [], False
        for name, value in arguments(frame):
            if name == "self" and not entering:  # the value's own method: it is there already
                continue
            if name in given or same(value):
                names.append(name)
            elif any(same(a) for a in attributes(value)):
                names.append(name)
                carried = True
        closure = free(frame)
        held = flow.held(frame.f_code, frozenset([*names, *closure]))
        if held:
            holding[frame] = held
        if names:  # one stop per call, under every name it was handed
            stops.append(Stop(module, frame.f_code.co_qualname, tuple(names), carried))

    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.setprofile(None)
    if errors:
        print(f"  ({len(errors)} calls not inspected, e.g. {errors[0]})")
    return stops


def figures(stops: list[Stop]) -> dict[str, int]:
    up = returns = 0
    left: set[str] = set()
    for before, after in itertools.pairwise(stops):
        if layer(after.module) > layer(before.module):
            up += 1
        if after.module != before.module:
            left.add(before.module)
            if after.module in left:
                returns += 1
    return {
        "stops": len(stops),
        "functions": len({(s.module, s.function) for s in stops}),
        "modules": len({s.module for s in stops}),
        "names": len({n for s in stops for n in s.names}),
        "parameters": len({(s.module, s.function, n) for s in stops for n in s.names}),
        "up": up,
        "returns": returns,
    }


#: How the table is read: open_table's parameters before the reference (they are followed
#: together), and the reference after.
REFERENCE = "model,tensor,revision,file,quant,table,allow_pickle"


def model_route(work: Path) -> list[Stop]:
    """Three cold builds: a Llama's input table, its untied output head, and one GGUF file of a
    folder of two chosen by ``file``. The revision, role and file are strings built at run time,
    so each is one object the route can be followed by (a local model ignores the revision, as
    it always did; what is followed is how far it is carried)."""
    from tests import gguf_files as G
    from tests import models

    path = models.llama(work / "llama")
    folder = work / "ggufs"
    folder.mkdir()
    vocab = G.bpe_vocab(models.byte_level_tokenizer())
    rng = np.random.default_rng(0)
    for quant in ("Q8_0", "F16"):
        values = rng.normal(size=(len(vocab.tokens), 32)).astype(np.float32)
        tensor = G.named(G.quantized(values, quant), "token_embd.weight")
        G.write(folder / f"tiny-{quant}.gguf", [tensor], vocab)
    import embcli

    def fresh(text: str) -> str:
        return "".join(list(text))  # not the interned literal: an object of its own

    def opened(spec: Path, role: str = "input", **choice: str) -> Any:
        model = embcli.Model(str(spec), cache_dir=str(work / "cache-ref"), revision=fresh("main"),
                             notice=lambda m: None, **choice)  # fmt: skip
        return lambda: model.embeddings(fresh(role))

    entry = "embcli.store.load:open_table"
    stops = follow(entry, REFERENCE, opened(path))
    stops += follow(entry, REFERENCE, opened(path, "output"))
    stops += follow(entry, REFERENCE, opened(folder, file=fresh("tiny-F16.gguf")))
    return stops


def space_route(work: Path, keyword: str) -> list[Stop]:
    from tests import models

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(600)]
    path = models.planted(work / "planted", words, rng.normal(size=(600, 300)))
    import embcli

    table = embcli.Model(str(path), cache_dir=str(work / "cache-space"), notice=lambda m: None)
    t = table.table()
    t.open()
    value: Any = int("257") if keyword == "remove_pcs" else True
    return follow(
        "embcli.api.table:Table.neighbors",
        keyword,
        lambda: t.neighbors("w1", k=5, **{keyword: value}),
    )


def show(title: str, stops: list[Stop], verbose: bool) -> None:
    f = figures(stops)
    print(f"{title}: {f['stops']} stops ({f['functions']} functions) in {f['modules']} modules "
          f"under {f['names']} names ({f['parameters']} parameters of functions hold it); up a "
          f"layer {f['up']} times; back to a module it had left {f['returns']} times")  # fmt: skip
    if verbose:
        for s in stops:
            names = ", ".join(s.names)
            print(f"    {s.module}.{s.function}({names}{' [carried]' if s.carried else ''})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verbose", "-v", action="store_true", help="list every stop")
    parser.add_argument("--space-keyword", default="remove_pcs", help="Table.neighbors keyword")
    args = parser.parse_args()
    import embcli

    print(f"embcli from {Path(embcli.__file__).parent}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.pop("EMBCLI_CACHE", None)
        show("model reference from store.load.open_table", model_route(Path(tmp)), args.verbose)
        show(f"{args.space_keyword} from Table.neighbors",
             space_route(Path(tmp), args.space_keyword), args.verbose)  # fmt: skip


if __name__ == "__main__":
    main()
