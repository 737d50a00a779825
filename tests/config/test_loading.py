"""Loading the configuration file: defaults, secrets, and errors that name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from webcrm_fortnox.config import (
    CONFIG_ENV,
    ConfigError,
    config_path,
    load_config,
)

ENV = {"WEBCRM_API_TOKEN": "token-from-env", "FORTNOX_CLIENT_SECRET": "secret-from-env"}

MINIMAL = """
[[tenant]]
name = "acme"
customer_types = ["Customer", "Private Customer"]
private_customer_types = ["Private Customer"]
new_customer_type = "Customer"
[tenant.webcrm]
api_token = "env:WEBCRM_API_TOKEN"
[tenant.fortnox]
client_id = "client-1"
client_secret = "env:FORTNOX_CLIENT_SECRET"
tenant_id = 123456
"""


def write(tmp_path: Path, text: str, name: str = "webcrm-fortnox.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=ENV if environ is None else environ)
    return caught.value


def test_the_issue_example_loads_with_its_values_and_the_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[state]
url = "postgresql+psycopg://sync@db.example/sync"

[[tenant]]
name = "acme"
sync_interval_seconds = 360
customer_types = ["Customer", "Private Customer"]
private_customer_types = ["Private Customer"]
new_customer_type = "Customer"
customer_number_owner = "webcrm"
delivery_target = "invoice"
[tenant.webcrm]
base_url = "https://api.webcrm.com"
api_token = "env:WEBCRM_API_TOKEN"
[tenant.fortnox]
base_url = "https://api.fortnox.se"
auth_url = "https://apps.fortnox.se"
auth = "authorization-code"
client_id = "client-1"
client_secret = "env:FORTNOX_CLIENT_SECRET"
tenant_id = 123456
[tenant.fields]
customer_number = "OrganisationExtraCustom4"
""",
    )
    config = load_config(path, environ=ENV)
    assert config.state.url == "postgresql+psycopg://sync@db.example/sync"
    (tenant,) = config.tenant
    assert tenant.name == "acme"
    assert tenant.customer_number_owner == "webcrm"
    assert tenant.delivery_target == "invoice"
    assert tenant.fortnox.auth == "authorization-code"
    assert tenant.fortnox.tenant_id == 123456
    assert tenant.fields.customer_number == "OrganisationExtraCustom4"
    assert tenant.webcrm_poll_seconds == 15
    assert tenant.fortnox.ws_url == "wss://ws.fortnox.se/topics-v1"
    assert tenant.webcrm.api_token.get_secret_value() == "token-from-env"
    assert tenant.fortnox.client_secret.get_secret_value() == "secret-from-env"


def test_defaults_of_a_minimal_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ=ENV)
    tenant = config.tenant[0]
    assert config.state.url == f"sqlite:///{tmp_path / 'webcrm-fortnox.db'}"
    assert tenant.sync_interval_seconds == 360
    assert tenant.customer_number_owner == "fortnox"
    assert tenant.delivery_target == "order"
    assert tenant.fortnox.auth == "service-account"
    assert tenant.webcrm.base_url == "https://api.webcrm.com"
    assert tenant.fortnox.base_url == "https://api.fortnox.se"
    assert tenant.fortnox.auth_url == "https://apps.fortnox.se"
    assert tenant.fields.customer_number == "OrganisationExtraCustom1"


def test_literal_secrets_are_accepted(tmp_path: Path) -> None:
    text = MINIMAL.replace('"env:WEBCRM_API_TOKEN"', '"literal-token"')
    tenant = load_config(write(tmp_path, text), environ={"FORTNOX_CLIENT_SECRET": "s"}).tenant[0]
    assert tenant.webcrm.api_token.get_secret_value() == "literal-token"
    assert tenant.webcrm.api_token.env_name is None
    assert tenant.fortnox.client_secret.env_name == "FORTNOX_CLIENT_SECRET"


def test_secrets_never_appear_in_repr_or_str(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ=ENV)
    for shown in (repr(config), str(config), repr(config.tenant[0]), str(config.tenant[0].fortnox)):
        assert "token-from-env" not in shown
        assert "secret-from-env" not in shown
    assert "**********" in repr(config.tenant[0].fortnox)


def test_a_missing_environment_variable_is_named_with_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    error = error_of(path, {"WEBCRM_API_TOKEN": "t"})
    assert str(error) == (
        f"{path}: tenant[0].fortnox.client_secret: "
        "environment variable FORTNOX_CLIENT_SECRET is not set"
    )


def test_an_empty_environment_variable_is_an_error(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, MINIMAL), {**ENV, "WEBCRM_API_TOKEN": ""})
    assert "tenant[0].webcrm.api_token: environment variable WEBCRM_API_TOKEN is empty" in str(
        error
    )


def test_unknown_keys_are_rejected_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("tenant_id = 123456", "tenant_id = 1\ntenantid = 2"))
    assert str(error_of(path)) == (
        f"{path}: tenant[0].fortnox.tenantid: is not a known setting (misspelt?)"
    )


def test_a_missing_required_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace('client_id = "client-1"\n', ""))
    assert str(error_of(path)) == f"{path}: tenant[0].fortnox.client_id: is required but missing"


def test_a_wrong_choice_names_key_allowed_values_and_the_given_value(tmp_path: Path) -> None:
    text = MINIMAL.replace('name = "acme"', 'name = "acme"\ncustomer_number_owner = "both"')
    path = write(tmp_path, text)
    message = str(error_of(path))
    assert message.startswith(f"{path}: tenant[0].customer_number_owner: ")
    assert "'fortnox' or 'webcrm'" in message
    assert "(got 'both')" in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = MINIMAL.replace('name = "acme"', 'name = "acme"\ndelivery_target = "letter"')
    path = write(tmp_path, text)
    error = error_of(path, {})
    keys = [p.key for p in error.problems]
    assert keys == [
        "tenant[0].delivery_target",
        "tenant[0].webcrm.api_token",
        "tenant[0].fortnox.client_secret",
    ]
    assert all(line.startswith(f"{path}: ") for line in str(error).splitlines())


def test_empty_customer_types_are_rejected(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'customer_types = ["Customer", "Private Customer"]', "customer_types = []"
    )
    text = text.replace('private_customer_types = ["Private Customer"]\n', "")
    text = text.replace('new_customer_type = "Customer"\n', "")
    error = error_of(write(tmp_path, text))
    assert [p.key for p in error.problems] == ["tenant[0].customer_types"]


def test_a_state_url_of_another_database_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, '[state]\nurl = "mysql://x/y"\n')
    assert "state.url: must start with sqlite:/// (a file) or postgresql+psycopg://" in str(
        error_of(path)
    )


def test_invalid_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[[tenant]\nname = ")
    message = str(error_of(path))
    assert message.startswith(f"{path}: is not valid TOML: ")
    assert "line 1" in message


def test_a_missing_file_says_how_to_give_one(tmp_path: Path) -> None:
    message = str(error_of(tmp_path / "nope.toml"))
    assert message.startswith(f"{tmp_path / 'nope.toml'}: no such file")
    assert "--config" in message
    assert CONFIG_ENV in message


def test_the_path_comes_from_the_argument_then_the_environment_then_the_default() -> None:
    assert config_path("given.toml", {CONFIG_ENV: "env.toml"}) == Path("given.toml")
    assert config_path(None, {CONFIG_ENV: "env.toml"}) == Path("env.toml")
    assert config_path(None, {}) == Path("webcrm-fortnox.toml")


def test_load_config_reads_the_file_named_by_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL, name="elsewhere.toml")
    config = load_config(environ={**ENV, CONFIG_ENV: str(path)})
    assert config.tenant[0].name == "acme"


def test_load_config_defaults_to_the_file_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, MINIMAL)
    monkeypatch.chdir(tmp_path)
    assert load_config(environ=ENV).tenant[0].name == "acme"
