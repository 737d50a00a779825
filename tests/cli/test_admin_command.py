"""``webcrm-fortnox admin``: serves the page on loopback by default; ``admin hash-password``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from typer.testing import CliRunner

from tests.config.test_loading import MINIMAL
from webcrm_fortnox.cli import app
from webcrm_fortnox.config.models import AdminSettings
from webcrm_fortnox.web.security import Operators, hash_password

ENV = {"WEBCRM_API_TOKEN": "token-from-env", "FORTNOX_CLIENT_SECRET": "secret-from-env"}


def _config(tmp_path: Path, admin: str) -> Path:
    path = tmp_path / "webcrm-fortnox.toml"
    path.write_text(MINIMAL + "\n" + admin, encoding="utf-8")
    return path


def test_admin_serves_the_page_on_loopback_until_stopped(tmp_path: Path) -> None:
    hashed = hash_password("pw")
    path = _config(tmp_path, f'[[admin.user]]\nname = "anna"\npassword_hash = "{hashed}"\n')
    command = [sys.executable, "-m", "webcrm_fortnox", "--config", str(path), "admin"]
    env = {**os.environ, **ENV}
    with subprocess.Popen(
        [*command, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("Administrator's page on http://127.0.0.1:"), line
            url = line.split(" on ")[1].split()[0].rstrip("/")
            assert httpx.get(f"{url}/login").status_code == 200
            assert httpx.get(f"{url}/fleet").headers["location"] == "/login"
        finally:
            proc.send_signal(signal.SIGTERM)
            _, errors = proc.communicate(timeout=20)
    assert proc.returncode == 0, errors


def test_admin_refuses_to_start_when_nobody_could_sign_in(tmp_path: Path) -> None:
    path = _config(tmp_path, "")
    result = CliRunner(env=ENV).invoke(app, ["--config", str(path), "admin", "--port", "0"])

    assert result.exit_code == 1
    assert f"{path}: admin: no operator can sign in" in result.output
    assert "webcrm-fortnox admin hash-password" in result.output


def test_hash_password_prints_a_hash_the_page_accepts() -> None:
    result = CliRunner().invoke(app, ["admin", "hash-password"], input="s3cret pw\ns3cret pw\n")

    assert result.exit_code == 0, result.output
    printed = result.stdout.strip().splitlines()[-1]
    assert printed.startswith("$argon2id$") and "s3cret" not in printed
    settings = AdminSettings.model_validate({"user": [{"name": "a", "password_hash": printed}]})
    assert Operators(settings).password("a", "s3cret pw") is not None
