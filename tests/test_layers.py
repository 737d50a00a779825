"""The layers hold at run time: the engine and the domain load no HTTP, database or web stack.

``lint-imports`` (pyproject.toml's contracts, run by CI) checks the imports each module writes;
this checks what importing them actually loads, which also counts what a package's
``__init__`` brings along with the module asked for.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "webcrm_fortnox"
#: Third-party stacks the engine and the domain must run without.
HEAVY = ("httpx", "httpcore", "sqlalchemy", "fastapi", "starlette", "uvicorn")


def modules(package: str) -> list[str]:
    root = SRC / package
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
