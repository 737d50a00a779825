"""Every dependency has a tested range, and CI installs the versions it was tested with."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
REQUIREMENTS = [
    Requirement(line)
    for line in [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["test"]]
]


def pinned() -> dict[str, Version]:
    versions = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            versions[canonicalize_name(name)] = Version(version)
    return versions


@pytest.mark.parametrize("requirement", REQUIREMENTS, ids=str)
def test_each_dependency_has_a_lower_and_an_upper_bound(requirement: Requirement) -> None:
    operators = {spec.operator for spec in requirement.specifier}
    assert ">=" in operators and "<" in operators, f"{requirement}: give >=LOW,<HIGH"


@pytest.mark.parametrize("requirement", REQUIREMENTS, ids=str)
def test_each_range_starts_at_the_release_line_ci_installs(requirement: Requirement) -> None:
    version = pinned().get(canonicalize_name(requirement.name))
    assert version is not None, f"{requirement.name} is not in constraints.txt"
    assert requirement.specifier.contains(version), f"{requirement.name}=={version}: {requirement}"
    (lower,) = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
    # Nothing older than the tested line is allowed: what was never installed is not tested.
    assert lower.release[:2] == version.release[:2], f"{requirement}: CI tests {version}"


def test_ci_runs_the_readmes_test_command_under_the_constraints() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = "pip install '.[test]' && pytest"
    assert f"```sh\n{command}\n```" in readme
    lines = ci.splitlines()
    assert command in lines
    constraint = next(
        i for i, line in enumerate(lines) if re.match(r"export PIP_CONSTRAINT=", line)
    )
    assert "constraints.txt" in lines[constraint] and constraint < lines.index(command)
