"""The house keeps its layers (issue 27): the import graph of ``mlprod/``, built from the source
with ``ast`` (imports inside functions count too), has no cycle, and no capability core imports
``mlprod.components`` or ``mlprod.pipelines`` (the TFX wrappers sit on the cores, never under them)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "mlprod"
CORES = ("validation", "preprocessing", "tuning", "optimization", "evaluation", "serving", "monitoring", "io",
         "alerts", "features", "tracking")
SHIMS = {"mlprod._data", "mlprod._fs", "mlprod._examples"}  # one-release re-exports of mlprod.io


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve(name: str, modules: set[str]) -> str | None:
    """The mlprod module an import names (a package's ``__init__`` for ``from pkg import x``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PKG.rglob("*.py")}
    modules = set(files)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    anchor = anchor[:len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                    "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                targets = [node.args[0].value]  # importlib.import_module("mlprod.x"): an import all the same
            for t in targets:
                if t.startswith("mlprod"):
                    r = resolve(t, modules)
                    if r and r != mod:
                        graph[mod].add(r)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    # a package's __init__ re-exporting its own modules is not a loop back up: leave those edges out
    for mod in graph:
        graph[mod] = {t for t in graph[mod] if not t.startswith(mod + ".")}
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_cores_never_import_components_or_pipelines():
    bad = sorted(f"{m} -> {t}" for m, ts in import_graph().items() for t in ts
                 if m.split(".")[1:2] and m.split(".")[1] in CORES
                 and t.split(".")[1:2] and t.split(".")[1] in ("components", "pipelines"))
    assert not bad, "a capability core imports a TFX wrapper: " + ", ".join(bad)


def test_the_graph_is_read_from_the_source():
    """The checks above could pass on an empty graph: make sure real edges are seen."""
    g = import_graph()
    assert "mlprod.io.files" in g["mlprod.serving.versions"]
    assert "mlprod.serving.rest" in g["mlprod.serving.server"]  # a lazy import inside a method
    assert len(g) > 60 and sum(map(len, g.values())) > 150


def test_an_import_module_call_with_a_literal_name_is_an_edge(tmp_path, monkeypatch):
    """A shim that imports through importlib (the two circles of issue 27) is seen by the graph."""
    pkg = tmp_path / "mlprod"
    (pkg / "low").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low" / "__init__.py").write_text("import importlib\n\ndef __getattr__(name):\n"
                                            "    return importlib.import_module('mlprod.high').thing\n")
    (pkg / "high.py").write_text("from mlprod.low import x\n")
    import sys

    mod = sys.modules[__name__]
    monkeypatch.setattr(mod, "ROOT", tmp_path)
    monkeypatch.setattr(mod, "PKG", pkg)
    g = import_graph()
    assert "mlprod.high" in g["mlprod.low"] and cycles(g) == [["mlprod.high", "mlprod.low"]]
