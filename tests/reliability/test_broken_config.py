"""Broken configuration files, through the real ``webcrm-fortnox`` command as a process.

``tests/config`` proves what :func:`~webcrm_fortnox.config.load_config` reports; this file proves
what a person sees: each broken file makes ``webcrm-fortnox sync --once`` exit non-zero with one
message naming the file and the key (or the system) at fault, and never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.servers import free_port
from webcrm_fortnox.fortnox.auth import TokenSet
from webcrm_fortnox.service.vault import KEY_FILE_NAME, FortnoxGrant, KeySource, TokenVault
from webcrm_fortnox.store import StateDatabase
from webcrm_fortnox.store.service import ServiceStore

SECRET = "emulator-secret-of-the-broken-config-tests"

#: A valid configuration; ``{dead}`` is a loopback port nobody listens on.
GOOD = """\
[state]
url = "sqlite:///{folder}/state.db"

[[tenant]]
name = "acme"
customer_types = ["Customer"]
new_customer_type = "Customer"

[tenant.webcrm]
base_url = "http://127.0.0.1:{dead}"
api_token = "00000000-0000-4000-8000-000000000001"

[tenant.fortnox]
base_url = "http://127.0.0.1:{dead}"
auth_url = "http://127.0.0.1:{dead}"
ws_url = "ws://127.0.0.1:{dead}/topics-v1"
auth = "service-account"
client_id = "emulator"
client_secret = "env:BROKEN_CONFIG_FORTNOX_SECRET"
tenant_id = 1

[tenant.articles]
enabled = true

[tenant.documents.fields]
order_date = "DeliveryOrderDate"

[tenant.field_policy.email]
conflict = "webcrm"
"""


def webcrm_fortnox(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the command as a user does; its exit status and everything it printed."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WEBCRM_FORTNOX_")}
    environ.update({"COLUMNS": "250", "BROKEN_CONFIG_FORTNOX_SECRET": SECRET, **(env or {})})
    done = subprocess.run(
        [sys.executable, "-m", "webcrm_fortnox", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def write(folder: Path, text: str) -> Path:
    path = folder / "webcrm-fortnox.toml"
    path.write_text(text, encoding="utf-8")
    return path


def good(folder: Path) -> str:
    return GOOD.format(folder=folder, dead=free_port())


def replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def assert_one_clear_message(code: int, output: str, *needles: str) -> None:
    assert code == 1, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, f"one message expected:\n{output}"
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not named in {lines[0]!r}"


#: (what is broken, how, the key named, what is said about it)
BROKEN = {
    "unknown top-level key": (
        lambda t: "colour = 'blue'\n" + t,
        "colour",
        "is not a known setting",
    ),
    "unknown key in [[tenant]]": (
        lambda t: replace(t, 'name = "acme"', 'name = "acme"\nsync_intervall = 60'),
        "tenant[0].sync_intervall",
        "is not a known setting",
    ),
    "unknown key in [tenant.fortnox]": (
        lambda t: replace(t, 'client_id = "emulator"', 'client_id = "x"\nclient_secrett = "y"'),
        "tenant[0].fortnox.client_secrett",
        "is not a known setting",
    ),
    "unknown key two tables down": (
        lambda t: replace(t, 'order_date = "DeliveryOrderDate"', 'order_dat = "DeliveryCustom9"'),
        "tenant[0].documents.fields.order_dat",
        "is not a known setting",
    ),
    "unknown key in a field policy": (
        lambda t: replace(t, 'conflict = "webcrm"', 'policy = "webcrm"'),
        "tenant[0].field_policy.email.policy",
        "is not a known setting",
    ),
    "text for a boolean": (
        lambda t: replace(t, "enabled = true", 'enabled = "yes"'),
        "tenant[0].articles.enabled",
        'must be true or false (got the text "yes")',
    ),
    "text for a number": (
        lambda t: replace(t, "tenant_id = 1", 'tenant_id = "1"'),
        "tenant[0].fortnox.tenant_id",
        'must be a whole number (got the text "1")',
    ),
    "text for a list": (
        lambda t: replace(t, 'customer_types = ["Customer"]', 'customer_types = "Customer"'),
        "tenant[0].customer_types",
        "must be a list",
    ),
    "a number for text": (
        lambda t: replace(t, 'client_id = "emulator"', "client_id = 7"),
        "tenant[0].fortnox.client_id",
        "must be text in quotes (got the number 7)",
    ),
    "text for a table": (
        lambda t: 'state = "sqlite:///state.db"\n' + t[t.index("[[tenant]]") :],
        "state",
        "must be a table (got the text",
    ),
    "a secret from an unset variable": (
        lambda t: replace(t, "BROKEN_CONFIG_FORTNOX_SECRET", "BROKEN_CONFIG_UNSET"),
        "tenant[0].fortnox.client_secret",
        "environment variable BROKEN_CONFIG_UNSET is not set",
    ),
    "TOML syntax": (
        lambda t: replace(t, "[tenant.webcrm]", "[tenant.webcrm"),
        "is not valid TOML",
        "line 9",
    ),
    "no tenant": (
        lambda t: t[: t.index("[[tenant]]")],
        "has no [[tenant]] table",
        "add one",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_file_is_one_message_naming_file_and_key(case: str, tmp_path: Path) -> None:
    breaks, key, said = BROKEN[case]
    path = write(tmp_path, breaks(good(tmp_path)))

    code, output = webcrm_fortnox("sync", "--once", "--config", str(path))

    assert_one_clear_message(code, output, f"{path}: ", key, said)
    assert SECRET not in output
    assert not (tmp_path / "state.db").exists(), "a broken configuration still opened the store"


def test_every_problem_of_a_file_is_named_at_once(tmp_path: Path) -> None:
    text = replace(good(tmp_path), "enabled = true", 'enabled = "yes"\nprice_lst = "B"')
    path = write(tmp_path, text)

    code, output = webcrm_fortnox("status", "--config", str(path))

    assert code == 1 and "Traceback" not in output
    assert output.splitlines() == [
        f'{path}: tenant[0].articles.enabled: must be true or false (got the text "yes")',
        f"{path}: tenant[0].articles.price_lst: is not a known setting (misspelt?)",
    ]


def test_a_missing_file_says_how_to_give_one(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"

    code, output = webcrm_fortnox("errors", "--config", str(missing))

    assert_one_clear_message(code, output, str(missing), "no such file", "--config FILE")


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int, str]:
    """``sync --once`` with both systems on a loopback port nobody listens on (the clients
    retry before giving up, so this runs once for the tests below), printing into a pipe with
    no $COLUMNS: the configuration, the exit status and the output."""
    folder = tmp_path_factory.mktemp("unreachable")
    text = good(folder)
    path = write(folder, text)
    return text, *webcrm_fortnox("sync", "--once", "--config", str(path), env={"COLUMNS": ""})


def test_an_unreachable_system_stops_the_tenant_with_a_reason(
    unreachable: tuple[str, int, str],
) -> None:
    _, code, output = unreachable

    assert code == 1, output
    assert "Traceback" not in output, output
    [stopped] = [line for line in output.splitlines() if "stopped:" in line]
    assert stopped.startswith("acme: stopped: webCRM: no answer from http://127.0.0.1:"), stopped
    assert stopped.endswith(
        ": connection refused; check the address and that webCRM is reachable"
    ), stopped


def test_an_unreachable_system_is_named_by_its_address(unreachable: tuple[str, int, str]) -> None:
    text, _, output = unreachable

    [stopped] = [line for line in output.splitlines() if "stopped:" in line]
    url = text.split('base_url = "', 1)[1].split('"', 1)[0]
    assert url in stopped and "base_url" in stopped, stopped
    assert f"{url} (tenant[0].webcrm.base_url in " in stopped, stopped


def test_a_long_stopped_line_is_not_broken_when_printed_to_a_pipe(
    unreachable: tuple[str, int, str],
) -> None:
    """The fixture's command ran without a terminal and without $COLUMNS: Rich would break
    its lines at 80 columns."""
    _, _, output = unreachable

    [stopped] = [line for line in output.splitlines() if "stopped:" in line]
    assert len(stopped) > 80, stopped
    assert stopped.endswith("check the address and that webCRM is reachable"), output


def test_an_unreachable_state_store_names_file_key_and_server(tmp_path: Path) -> None:
    port = free_port()
    text = replace(
        good(tmp_path),
        f'url = "sqlite:///{tmp_path}/state.db"',
        f'url = "postgresql+psycopg://sync:hunter2-password@127.0.0.1:{port}/sync"',
    )
    path = write(tmp_path, text)

    code, output = webcrm_fortnox("sync", "--once", "--config", str(path))

    assert_one_clear_message(
        code,
        output,
        f"{path}: state.url: cannot open the state store ",
        f"postgresql+psycopg://sync:***@127.0.0.1:{port}/sync: connection refused",
    )
    assert output.endswith(": connection refused\n"), output
    assert "sqlalche.me" not in output and "Background on this error" not in output
    assert "hunter2-password" not in output


async def _store_tokens(url: str, key_file: Path) -> None:
    db = await StateDatabase.open(url)
    try:
        vault = TokenVault(ServiceStore(db), KeySource(path=key_file))
        token = TokenSet("access-" + "a" * 40, time.time() + 3600, "refresh-" + "r" * 40, "")
        await vault.save("acme", FortnoxGrant(token, tenant_id=1))
    finally:
        await db.close()


def test_a_missing_token_key_file_is_named_and_nothing_is_reset(tmp_path: Path) -> None:
    text = replace(good(tmp_path), 'auth = "service-account"', 'auth = "authorization-code"')
    path = write(tmp_path, text)
    key_file = tmp_path / KEY_FILE_NAME
    asyncio.run(_store_tokens(f"sqlite:///{tmp_path}/state.db", key_file))
    key_file.unlink()
    missing = f"the token key file {key_file} is missing"

    code, output = webcrm_fortnox("sync", "--once", "--config", str(path))
    status_code, status = webcrm_fortnox("status", "--json", "--config", str(path))

    assert code == 1 and "Traceback" not in output, output
    [stopped] = [line for line in output.splitlines() if "stopped:" in line]
    assert stopped.startswith(f"acme: stopped: {missing}: restore it or set $"), stopped
    assert status_code == 0 and "Traceback" not in status, status
    [tenant] = json.loads(status)["tenants"]
    assert tenant["connections"]["fortnox"].startswith(f"tokens unreadable: {missing}")
    assert not key_file.exists(), "a new key was made, and the stored tokens were given up"
