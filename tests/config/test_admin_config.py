"""``[admin]``: operators of the administrator's page, with errors that name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.test_loading import MINIMAL, error_of, write
from webcrm_fortnox.config import config_to_toml, load_config
from webcrm_fortnox.web.security import Operators, hash_password

ENV = {
    "WEBCRM_API_TOKEN": "token-from-env",
    "FORTNOX_CLIENT_SECRET": "secret-from-env",
    "ADMIN_TOKEN": "the-admin-token",
}
HASH = hash_password("pw-of-anna")


def _file(tmp_path: Path, admin: str) -> Path:
    return write(tmp_path, MINIMAL + "\n" + admin)


def test_operators_and_a_token_load_and_sign_in(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        f"""
[admin]
token = "env:ADMIN_TOKEN"
token_role = "read-only"
session_hours = 8
[[admin.user]]
name = "anna"
password_hash = "{HASH}"
[[admin.user]]
name = "rita"
password_hash = "{HASH}"
role = "read-only"
""",
    )

    admin = load_config(path, environ=ENV).admin

    assert [(u.name, u.role) for u in admin.user] == [("anna", "operator"), ("rita", "read-only")]
    assert admin.session_hours == 8 and not admin.secure_cookies
    operators = Operators(admin)
    assert operators.password("anna", "pw-of-anna") == operators.password("anna", "pw-of-anna")
    assert operators.password("anna", "pw-of-anna").role == "operator"  # type: ignore[union-attr]
    assert operators.password("anna", "wrong") is None
    assert operators.token("the-admin-token").role == "read-only"  # type: ignore[union-attr]
    assert operators.token("the-admin-tokeN") is None


def test_no_admin_table_means_nobody_can_sign_in(tmp_path: Path) -> None:
    admin = load_config(write(tmp_path, MINIMAL), environ=ENV).admin
    assert not Operators(admin).configured


@pytest.mark.parametrize(
    ("admin", "key", "message"),
    [
        ("[admin]\nsesion_hours = 3", "admin.sesion_hours", "is not a known setting"),
        ('[[admin.user]]\nname = "anna"', "admin.user[0].password_hash", "is required"),
        (
            '[[admin.user]]\nname = "anna"\npassword_hash = "hunter2-plain"',
            "admin.user[0].password_hash",
            "must be an Argon2 hash made by `webcrm-fortnox admin hash-password`",
        ),
        (
            f'[[admin.user]]\nname = "anna"\npassword_hash = "{HASH}"\nrole = "root"',
            "admin.user[0].role",
            "'operator' or 'read-only'",
        ),
        ('[admin]\ntoken = "literal-token"', "admin.token", "must be env:NAME"),
        ('[admin]\ntoken = "env:NOT_SET_ANYWHERE"', "admin.token", "NOT_SET_ANYWHERE is not set"),
        (
            f'[[admin.user]]\nname = "anna"\npassword_hash = "{HASH}"\n'
            f'[[admin.user]]\nname = "anna"\npassword_hash = "{HASH}"',
            "admin.user[1].name",
            "operator names must be unique",
        ),
    ],
    ids=["misspelt", "no hash", "a password", "role", "literal token", "unset", "twice"],
)
def test_a_wrong_admin_setting_names_the_file_and_the_key(
    tmp_path: Path, admin: str, key: str, message: str
) -> None:
    path = _file(tmp_path, admin)

    error = error_of(path, ENV)

    assert f"{path}: {key}: " in str(error) and message in str(error), str(error)
    assert "hunter2-plain" not in str(error) and "literal-token" not in str(error)


def test_a_written_configuration_keeps_its_operators(tmp_path: Path) -> None:
    source = _file(
        tmp_path,
        f"""
[admin]
token = "env:ADMIN_TOKEN"
secure_cookies = true
[[admin.user]]
name = "rita"
password_hash = "{HASH}"
role = "read-only"
""",
    )
    config = load_config(source, environ=ENV)

    text = config_to_toml(config)

    assert "the-admin-token" not in text and 'token = "env:ADMIN_TOKEN"' in text
    again = load_config(write(tmp_path, text, "again.toml"), environ=ENV)
    assert again.admin == config.admin


def test_the_readmes_operators_example_is_valid(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    (example,) = [b for b in readme.split("```toml\n")[1:] if b.startswith("[admin]")]
    path = _file(tmp_path, example.split("```", 1)[0])

    admin = load_config(path, environ={**ENV, "WEBCRM_FORTNOX_ADMIN_TOKEN": "t"}).admin

    assert [(u.name, u.role) for u in admin.user] == [("anna", "operator"), ("rita", "read-only")]
