"""The one-way flow of DESIGN.md, checked on the code: each stage imports only the shared core
and the stages before it, so `ls auditor/` reads in the order a URN travels."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "auditor"
# The vocabulary every stage shares: the data model, the errors, the settings, and the URN
# grammar (a pure module of the source stage that the data model is made of).
CORE = {"model", "errors", "config", "accounts", "source.urn"}
STAGES = ["source", "service", "send", "verdict", "store", "report"]
# The one call down the list: the worker pool hands each final answer to the verdict stage.
ALLOWED = {("send.runner", "verdict")}


def layer(module: str) -> str:
    return "core" if module in CORE else module.split(".")[0]


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("auditor"):
            names = [node.module]
            if node.module == "auditor":
                names = [f"auditor.{alias.name}" for alias in node.names]
            found.update(name.removeprefix("auditor").lstrip(".") for name in names)
        elif isinstance(node, ast.Import):
            found.update(
                a.name.removeprefix("auditor.") for a in node.names if a.name.startswith("auditor.")
            )
    return {name for name in found if name}


def modules() -> list[tuple[str, Path]]:
    return [
        (".".join(path.relative_to(PACKAGE).with_suffix("").parts), path)
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


@pytest.mark.parametrize(("module", "path"), modules(), ids=[m for m, _ in modules()])
def test_imports_flow_one_way(module: str, path: Path) -> None:
    own = layer(module)
    for imported in imports_of(path):
        other = layer(imported)
        if other == own or imported in {"", "__version__"}:
            continue
        if own == "core":
            assert other == "core", f"{module} (core) imports {imported}"
        elif own in STAGES:
            earlier = other in STAGES and STAGES.index(other) < STAGES.index(own)
            allowed = other == "core" or earlier
            allowed = allowed or (module.rsplit(".__init__", 1)[0], other) in ALLOWED
            assert allowed, f"{module} ({own}) imports {imported} ({other}): against the flow"
        elif own == "emulator":
            assert imported in {"source.urn", "service.signer", "errors", "model"} or other in {
                "emulator"
            }, f"the emulator imports {imported}"
        else:  # audit, cli, schema, __main__: the composers may use every stage ...
            assert other != "emulator" or own in {"cli"}, f"{module} imports the emulator"
