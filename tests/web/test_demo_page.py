"""``webcrm-fortnox demo`` serves the page while it runs, behind a one-time password."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.web.site import csrf_of

pytestmark = pytest.mark.e2e
_LINE = re.compile(
    r"Administrator's page on (\S+)/ .* sign in as (\S+) with the one-time password (\S+)"
)


def test_the_demo_prints_the_pages_address_and_a_one_time_password(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "webcrm_fortnox", "demo", "--quick", "--duration", "6"]
    env = {**os.environ, "COLUMNS": "250"}
    with subprocess.Popen(
        [*command, "--folder", str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    ) as demo:
        assert demo.stdout is not None
        found = None
        for line in demo.stdout:
            found = _LINE.search(line)
            if found:
                break
        assert found, "the demo printed no address of the page"
        url, name, password = found.groups()
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=url) as http:
            wrong = http.post(
                "/login",
                data={"csrf": csrf_of(http.get("/login").text), "name": name, "password": "guess"},
            )
            form = http.get("/login")
            signed_in = http.post(
                "/login", data={"csrf": csrf_of(form.text), "name": name, "password": password}
            )
            fleet = http.get("/fleet")
        rest = demo.stdout.read()
    assert demo.returncode == 0, rest
    assert wrong.status_code == 401 and signed_in.status_code == 303
    assert fleet.status_code == 200 and 'href="/tenants/demo"' in fleet.text
    assert password not in (tmp_path / "service.log").read_text()
    assert password not in (tmp_path / "webcrm-fortnox.toml").read_text()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/login")  # gone with the demo
