"""The package's shape: no import cycle of any length among the modules of ``minimal`` (imports
inside functions count too), and the never-rules of docs/architecture.json hold."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "minimal"
RULES = json.loads((ROOT / "docs" / "architecture.json").read_text())
_DYNAMIC = re.compile(r"^(minimal(?:\.\w+)+)(?::\w+)?$")


def _modules() -> dict[str, Path]:
    mods = {}
    for f in PKG.rglob("*.py"):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = f
    return mods


def _imports(mods: dict[str, Path], dynamic: bool = False) -> dict[str, set[str]]:
    """module -> modules of ``minimal`` it imports (anywhere in the file).  ``from a import b``
    counts as importing ``a.b`` when that is a module, else ``a``.  With ``dynamic``, string
    constants naming a module (``"minimal.cot.train:train_cot"``) count too."""
    graph = {m: set() for m in mods}
    for m, f in mods.items():
        tree = ast.parse(f.read_text(), str(f))
        pkg = m if f.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                for a in node.names:
                    full = f"{base}.{a.name}"
                    names.append(full if full in mods else base)
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif dynamic and isinstance(node, ast.Constant) and isinstance(node.value, str):
                hit = _DYNAMIC.match(node.value)
                if hit:
                    names = [hit.group(1)]
            for n in names:
                while n and n not in mods:
                    n = n.rpartition(".")[0]
                if n and n != m:
                    graph[m].add(n)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _part_of(path: Path) -> str | None:
    rel = path.relative_to(ROOT).as_posix()
    for name, part in RULES["parts"].items():
        for p in part["is"]:
            if rel == p or (p.endswith("/") and rel.startswith(p)):
                return name
    return None


def test_no_import_cycles():
    cycles = _cycles(_imports(_modules()))
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_cycle_finder_finds_a_planted_cycle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(g) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_every_module_belongs_to_a_part():
    loose = [m for m, f in _modules().items()
             if f.name != "__init__.py" or f.parent != PKG]
    loose = [m for m in loose if _part_of(_modules()[m]) is None]
    assert not loose, f"modules outside every part of docs/architecture.json: {loose}"


def test_core_imports_nothing_above_it():
    """The ground (Core) imports only Core modules: one rule for every part above it (the
    architecture card draws two of these arrows as never-rules)."""
    mods = _modules()
    graph = _imports(mods, dynamic=True)
    bad = [(m, n) for m, deps in graph.items() for n in deps
           if _part_of(mods[m]) == "Core" and _part_of(mods[n]) not in ("Core", None)]
    assert not bad, "the ground imports nothing above it: " + ", ".join(
        f"{a} imports {b}" for a, b in bad)


@pytest.mark.parametrize("rule", RULES["never"], ids=lambda r: f"{r[0]}->{r[1]}")
def test_never_rule_holds(rule):
    src, dst, why = rule
    mods = _modules()
    graph = _imports(mods, dynamic=True)
    bad = [(m, n) for m, deps in graph.items() for n in deps
           if _part_of(mods[m]) == src and _part_of(mods[n]) == dst]
    assert not bad, f"{why}: " + ", ".join(f"{a} imports {b}" for a, b in bad)
