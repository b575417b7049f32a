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


README = PACKAGE.parent / "README.md"
PACKAGES = [*STAGES, "fix", "cli", "emulator"]


def layout_row(package: str) -> str:
    """The README's layout table row of `auditor/<package>/`."""
    prefix = f"| `auditor/{package}/` |"
    rows = [line for line in README.read_text().splitlines() if line.startswith(prefix)]
    assert len(rows) == 1, f"README's layout table has {len(rows)} rows for {package}"
    return rows[0]


@pytest.mark.parametrize("package", PACKAGES)
def test_the_readme_layout_and_the_package_docstring_name_every_module(package: str) -> None:
    directory = PACKAGE / package
    names = sorted(p.stem for p in directory.glob("*.py") if p.stem != "__init__")
    row = layout_row(package)
    docstring = ast.get_docstring(ast.parse((directory / "__init__.py").read_text())) or ""
    assert [n for n in names if f"`{n}`" not in row] == [], f"README's row for {package}"
    assert [n for n in names if f"{n}.py" not in docstring and f"{n}," not in docstring] == []


def test_no_module_is_longer_than_the_house_limit() -> None:
    # STYLE.md: small modules. ~400 lines: a module past it has two jobs.
    long = {m: n for m, p in modules() if (n := len(p.read_text().splitlines())) > 410}
    assert long == {}
