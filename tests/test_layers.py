"""The package's shape: the layer contract holds and no two modules import each other, even through others."""

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def _module_cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    modules = sorted(graph.modules)
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    for start in modules:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return out


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph("lift3d")  # function-level imports included: none may hide a circle
    cycles = _module_cycles(graph)
    assert cycles == [], f"import circles: {cycles}"


def test_tarjan_finds_a_planted_circle():
    graph = grimp.ImportGraph()
    for name in ("p.a", "p.b", "p.c", "p.d"):
        graph.add_module(name)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.c")
    graph.add_import(importer="p.c", imported="p.a")
    graph.add_import(importer="p.d", imported="p.a")
    assert _module_cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_layer_contract_holds():
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True,
                         text=True)  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    assert "1 kept, 0 broken" in run.stdout


def _long_functions(source: str, limit: int) -> list[tuple[str, int]]:
    """(name, lines) of the functions of `source` longer than `limit` lines, docstrings not counted."""
    import ast

    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                body = body[1:]
            lines = (body[-1].end_lineno - body[0].lineno + 1) if body else 0
            if lines > limit:
                out.append((node.name, lines))
    return out


def test_modules_stay_focused():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in (ROOT / "lift3d").rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 600} == {}


def test_app_functions_are_named_steps():
    long = {p.name: _long_functions(p.read_text(), 80) for p in (ROOT / "lift3d" / "apps").glob("*.py")}
    assert {name: fns for name, fns in long.items() if fns} == {}


def test_long_function_counter_counts_body_lines():
    body = "\n".join(f"    x{i} = {i}" for i in range(81))
    assert _long_functions(f'def f():\n    """doc."""\n{body}\n', 80) == [("f", 81)]
    assert _long_functions(f"def g():\n{body}\n", 81) == []
