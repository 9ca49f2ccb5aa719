"""The dependency order holds: core imports only core, the zoo only core, no import cycles.

Read statically from the source (every ``import``, function-local ones too, and every
``"gaplens.*"`` string literal, which is how a module imports another by name), so an edge that
only runs on some code path still counts.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import gaplens

ROOT = Path(gaplens.__file__).parent
# The layers above the capabilities (the run folder, the report, the CLI): not checked here.
UPPER = ("gaplens.cli", "gaplens.commands", "gaplens.demo", "gaplens.report", "gaplens.store", "gaplens.studies",
         "gaplens.workflows")


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in ROOT.rglob("*.py")}


def _imports(name: str) -> set[str]:
    """The gaplens modules ``name`` names (``from pkg import submodule`` names the submodule)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                head = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(head + ([base] if base else []))
            subs = {f"{base}.{alias.name}" for alias in node.names} & MODULES.keys()
            found.update(subs)
            if len(subs) < len(node.names):
                found.add(base)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("gaplens."):
            found.add(node.value)
    return {m for m in found if m in MODULES and m != name}


def _in(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_core_imports_only_core():
    for name in MODULES:
        if _in(name, "gaplens.core"):
            outside = {m for m in _imports(name) if not _in(m, "gaplens.core")}
            assert not outside, f"{name} imports {sorted(outside)}"


def test_zoo_imports_only_core_and_itself():
    for name in MODULES:
        if _in(name, "gaplens.zoo"):
            outside = {m for m in _imports(name) if not _in(m, "gaplens.core", "gaplens.zoo")}
            assert not outside, f"{name} imports {sorted(outside)}"


def test_adain_networks_know_no_files_and_weights_know_no_training():
    assert not _imports("gaplens.bias.networks") & {"gaplens.bias.weights", "gaplens.bias.stylize"}
    assert "gaplens.bias.stylize" not in _imports("gaplens.bias.weights")


def test_no_import_cycles_below_the_run_layer():
    graph = {n: {m for m in _imports(n) if m != "gaplens" and not _in(m, *UPPER)}
             for n in MODULES if n != "gaplens" and not _in(n, *UPPER)}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_checkpoints_load_whatever_is_imported_first(tmp_path):
    """The built-in architectures are registered even when only core is imported by name."""
    code = ("import sys, torch; from gaplens.core.model import Classifier, load_model, save_checkpoint\n"
            "from gaplens.core.architectures import build_architecture\n"
            "net = build_architecture('vgg', 3, widths=(4, 8), convs_per_stage=(1, 1))\n"
            f"save_checkpoint(Classifier(net), {str(tmp_path)!r})\n"
            f"print(load_model({str(tmp_path)!r}, device='cpu')(torch.zeros(1, 3, 16, 16)).shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "torch.Size([1, 3])"
