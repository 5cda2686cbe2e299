"""The package's import graph and the rules it keeps: ``python -m ncpvae._layers``.

Layers, top to bottom (a module imports only from its own layer or those below it):

    cli -> runs, integrations -> training, evaluation -> samplers -> prior -> models
        -> networks, likelihoods, distributions, data, and the utilities beside them
        -> config (every component's settings) -> errors, settings, files

Checked: no import cycle (imports inside functions and under ``TYPE_CHECKING`` count too), no
import against the layer order, no module over 300 lines, no test of a prior's kind
(``isinstance`` with a prior class, or ``hasattr``) outside :mod:`ncpvae.prior`, and no runtime
code under the config: the config sections and what they build on (the two bottom layers) import
only each other, the standard library and pydantic (no torch, numpy or runtime module). Prints
the graph and every violation; exits 1 if there is one.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

__all__ = ["LAYERS", "import_graph", "violations", "main"]

ROOT = Path(__file__).resolve().parent
MAX_LINES = 300
LAYERS: list[tuple[str, ...]] = [  # bottom first
    ("errors", "settings", "files", "_version"),
    ("config",),
    (
        "tensor_files",
        "metrics",
        "distributions",
        "data",
        "likelihoods",
        "nets",
        "progress",
        "threads",
        "_layers",
    ),
    ("models",),
    ("prior",),
    ("samplers",),
    ("training", "evaluation"),
    ("runs", "integrations"),
    ("cli",),
    ("__init__",),
]
CONFIG_LAYERS = 2  # the bottom layers: config sections and what they build on
CONFIG_EXTERNALS = {"pydantic"}  # the libraries they may import besides the standard library
PRIOR_CLASSES = {"Prior", "NCPPrior", "HierarchicalNCPPrior"}
PRIOR_ATTRIBUTES = {  # what a test of a prior's kind would ask for
    "group_log_prob",
    "classifiers",
    "classifier",
    "trained",
    "normalizer_samples",
    "state_prior",
    "to_latent",
    "walk",
    "base",
}


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = ["ncpvae", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _rank(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    return next(i for i, names in enumerate(LAYERS) if top in names)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (``from package import submodule`` counts as
    importing the submodule)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("ncpvae")}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ncpvae"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in modules else node.module)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected part of the graph that has one."""
    found, state = [], dict.fromkeys(graph, 0)  # 0 new, 1 on the path, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state[nxt] == 1:
                found.append(path[path.index(nxt) :] + [nxt])
            elif state[nxt] == 0:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if state[node] == 0:
            visit(node)
    return found


def _kind_tests(path: Path) -> list[str]:
    """``isinstance`` calls naming a prior class, and ``hasattr`` calls on a prior or asking for
    a prior's attribute, in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        if node.func.id == "isinstance" and names & PRIOR_CLASSES:
            out.append(f"line {node.lineno}: isinstance with {sorted(names & PRIOR_CLASSES)}")
        if node.func.id == "hasattr" and len(node.args) == 2:
            subject, attribute = ast.unparse(node.args[0]), ast.unparse(node.args[1]).strip("'\"")
            if "prior" in subject.lower() or attribute in PRIOR_ATTRIBUTES:
                out.append(f"line {node.lineno}: hasattr({subject}, {attribute!r})")
    return out


def _external_imports(path: Path) -> set[str]:
    """The top-level names of the modules outside the package that the file imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - {"ncpvae", "__future__"} - set(sys.stdlib_module_names)


def violations(graph: dict[str, set[str]] | None = None) -> list[str]:
    """Every broken rule, one line each."""
    graph = graph if graph is not None else import_graph()
    found = [f"cycle: {' -> '.join(c)}" for c in _cycles(graph)]
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if _rank(target) > _rank(module):
                found.append(f"upward import: {module} -> {target}")
    for module, path in sorted(_modules().items()):
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            found.append(f"too long: {module} has {lines} lines (at most {MAX_LINES})")
        if _rank(module) < CONFIG_LAYERS:
            runtime = sorted(_external_imports(path) - CONFIG_EXTERNALS)
            found += [f"runtime import under the config: {module} -> {name}" for name in runtime]
        if not module.startswith("ncpvae.prior") and module != "ncpvae._layers":
            found += [f"prior-kind test in {module}, {t}" for t in _kind_tests(path)]
    return found


def main() -> int:
    """Print the graph by layer and the violations; 1 if there are any."""
    graph = import_graph()
    for rank, names in reversed(list(enumerate(LAYERS))):
        print(f"layer {rank}: {', '.join(names)}")
        for module in sorted(m for m in graph if _rank(m) == rank):
            inside = sorted(t.removeprefix("ncpvae.") for t in graph[module])
            print(f"  {module.removeprefix('ncpvae.') or 'ncpvae'} -> {', '.join(inside) or '-'}")
    found = violations(graph)
    print(
        "\n".join(found)
        if found
        else "no cycle, no upward import, no long module, no kind test, "
        "no runtime code under the config"
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
