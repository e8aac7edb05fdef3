"""The package's shape: every module imports, and no two modules import each other in a circle
(counting imports inside functions too: a lazy import that closes a circle is still one)."""

import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "star1"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path) -> set[str]:
    """The star1 modules ``name`` imports (``from a import b`` is a.b when that is a module)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


def test_no_import_cycles():
    assert cycles(GRAPH) == []


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", [n for n in MODULES if not n.endswith("sandbox_boot")])
def test_every_module_imports(name):
    importlib.import_module(name)


# (importer prefix, imported prefix): a lower layer that must not reach up (docs/architecture.md).
FORBIDDEN = [
    ("star1.engines", "star1.datasets"),  # the cache folder is star1.paths, below both
    ("star1.records", "star1.engines"),  # the reasoning split is star1.reasoning, below both
    ("star1.engines", "star1.pipeline"),
    ("star1.runner", "star1.pipeline"),
]


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_lower_layers_do_not_import_higher_ones():
    reached_up = sorted((a, b) for a, imported in GRAPH.items() for b in imported
                        for low, high in FORBIDDEN if under(a, low) and under(b, high))
    assert reached_up == []


# The LLM stages hold a prompt-set object (star1.pipeline.prompt_sets) and never ask which one:
# neither the reference's module nor a test of its type appears in them.
STAGE_MODULES = ["star1.pipeline.classify", "star1.pipeline.deliberate", "star1.pipeline.score",
                 "star1.pipeline.benign"]


@pytest.mark.parametrize("name", STAGE_MODULES)
def test_no_stage_module_branches_on_the_prompt_set(name):
    assert not GRAPH[name] & {"star1.pipeline.paper", "star1.prompts.reference", "star1.pipeline.own"}
    source = MODULES[name].read_text(encoding="utf-8")
    for marker in ("is_reference", "ReferencePromptSet", "ReferenceRequests", "Star1Requests", ".kind"):
        assert marker not in source, (name, marker)
