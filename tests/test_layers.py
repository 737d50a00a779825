"""The layers hold at run time: the engine and the domain load no HTTP, database or web stack.

``lint-imports`` (pyproject.toml's contracts, run by CI) checks the imports each module writes;
this checks what importing them actually loads, which also counts what a package's
``__init__`` brings along with the module asked for.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "webcrm_fortnox"
#: Third-party stacks the engine and the domain must run without.
HEAVY = ("httpx", "httpcore", "sqlalchemy", "fastapi", "starlette", "uvicorn")


def modules(package: str) -> list[str]:
    """Every module of ``package`` (a folder under the package; ``""``: all of them)."""
    root = SRC / package if package else SRC
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def loaded_by(module: str) -> list[str]:
    """The top-level packages importing ``module`` loads, in a fresh interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded


@pytest.mark.parametrize("module", [*modules("engine"), *modules("domain")])
def test_the_engine_and_the_domain_load_no_http_database_or_web_stack(module: str) -> None:
    heavy = sorted(set(loaded_by(module)) & set(HEAVY))
    assert not heavy, f"importing {module} loads {', '.join(heavy)}"


def test_the_emulator_contract_covers_every_product_module() -> None:
    pyproject = tomllib.loads((SRC.parent.parent / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = [
        c
        for c in pyproject["tool"]["importlinter"]["contracts"]
        if "webcrm_fortnox.emulation" in c["forbidden_modules"]
    ]
    sources = contract["source_modules"]
    every = [name for name in modules("") if "emulat" not in name and name != "webcrm_fortnox"]
    # The vendor packages hold their emulators, so they cannot be named whole; their own
    # __init__ must then import nothing.
    vendors = {"webcrm_fortnox.fortnox", "webcrm_fortnox.webcrm"}
    for vendor in vendors:
        init = SRC / vendor.split(".")[1] / "__init__.py"
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    uncovered = [
        name
        for name in every
        if name not in vendors and not any(name == s or name.startswith(f"{s}.") for s in sources)
    ]
    assert not uncovered, f"add to the emulator contract's source_modules: {uncovered}"
