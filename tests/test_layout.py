"""The package's layout rules, checked on its source (README, Architecture):
version knowledge only in ``_compat/``, imports only going down."""
import ast
import re
from pathlib import Path

import pytest

import mxparams

PACKAGE = Path(mxparams.__file__).resolve().parent

#: What only ``_compat/`` may do: ask for MXNet's version or array mode,
#: switch the mode, read Gluon's children, or tell array kinds apart.
FORBIDDEN = {
    "mx.__version__": r"\bmx\.__version__|\bmxnet\.__version__",
    "is_np_array / is_np_shape": r"\bis_np_(array|shape)\b",
    "set_np / reset_np": r"\b(re)?set_np\b",
    "np_array( / np_shape(": r"\bnp_(array|shape)\(",
    "_children": r"\._children\b",
    "isinstance of an MXNet array class": r"isinstance\([^)]*mx\.(nd\.NDArray|np\.ndarray)",
    "mx.np if ... else mx.nd": r"mx\.np\b[^\n]*\bif\b[^\n]*\belse\b[^\n]*mx\.nd\b",
}


def modules():
    """(dotted name, path) of every module of the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def code_of(path: Path) -> str:
    """The source without comments and docstrings (prose may name things)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                             ast.AsyncFunctionDef)) and ast.get_docstring(node):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def imports(name: str, path: Path, top_level_only: bool = False) -> set[str]:
    """The mxparams modules ``name`` imports (resolved to dotted names)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("mxparams"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                place = PACKAGE.parent / sub.replace(".", "/")
                is_module = place.with_suffix(".py").exists() or place.is_dir()
                found.add(sub if is_module else target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("mxparams"))
    return found


ALL = dict(modules())


def test_the_walk_finds_the_packages():
    assert {"mxparams._compat", "mxparams.checkpoint", "mxparams.distributed",
            "mxparams.checkpoint._formats"} <= set(ALL)


@pytest.mark.parametrize("rule", sorted(FORBIDDEN))
def test_no_version_or_mode_test_outside_compat(rule):
    pattern = re.compile(FORBIDDEN[rule])
    found = [f"{name}: {line.strip()}"
             for name, path in ALL.items() if not name.startswith("mxparams._compat")
             for line in code_of(path).splitlines() if pattern.search(line)]
    assert found == []
    # The rule finds what it is meant to find (here, in _compat itself).
    if rule not in ("isinstance of an MXNet array class",):
        assert any(pattern.search(code_of(path)) for name, path in ALL.items()
                   if name.startswith("mxparams._compat")), rule


def test_nothing_imports_the_package_root():
    for name, path in ALL.items():
        if name != "mxparams":
            assert "mxparams" not in imports(name, path), name


def test_compat_stands_on_errors_and_table_only():
    allowed = {"mxparams.errors", "mxparams._table"}
    for name, path in ALL.items():
        if name.startswith("mxparams._compat"):
            outside = {m for m in imports(name, path)
                       if not m.startswith("mxparams._compat")}
            assert outside <= allowed, name


def test_formats_never_import_the_dispatcher():
    for name, path in ALL.items():
        if name.startswith("mxparams.checkpoint._formats"):
            assert not any(m.startswith(("mxparams.checkpoint._file",
                                         "mxparams.checkpoint._saveload",
                                         "mxparams.checkpoint.inspection",
                                         "mxparams.checkpoint.conversion"))
                           for m in imports(name, path)), name


def test_no_import_cycle_at_module_level():
    graph = {name: {m for m in imports(name, path, top_level_only=True)
                    if m in ALL and m != name}
             for name, path in ALL.items()}
    # A package imports its own submodules to re-export them: that is
    # going down, not up.
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError(" -> ".join(trail + [node, nxt]))
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])
