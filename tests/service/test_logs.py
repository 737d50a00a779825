"""The JSON log formatter and its redactor: no piece of a secret reaches a log line.

Each case is a text a log line may carry (a header, a form, a JSON body, websockets' dump of a
frame, a URL) holding a credential that is either registered with the redactor or recognised by
its context. The check is stricter than "the secret is not there": no 8-character piece of it
may survive, as a log line that shows the end of a secret gives most of it away.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from websockets.frames import Frame, Opcode

from tests.support.secrets import PIECE, pieces, shown_pieces
from webcrm_fortnox.service.logs import MASK, JsonFormatter, Redactor, setup_logging

#: registered with the redactor, as the configuration's secrets are
CLIENT_SECRET = "Kq3vX9dLw2RtY7pB"
API_TOKEN = "c0ffee12-9abc-4def-8123-456789abcdef"
#: never registered: masked by their context only (tokens issued while running)
ACCESS_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZW5hbnQtNDIifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
REFRESH_TOKEN = "Rf7hJ2mN8qZ4wX6cV1bT9yU3"
PASSWORD = "Pw9xQ2zL7kM4"


def assert_no_piece(text: str, *secrets: str) -> None:
    shown = shown_pieces(text, secrets)
    assert not shown, f"pieces of a secret survived: {shown} in {text!r}"


def frame(message: dict[str, object]) -> Frame:
    """A text frame as websockets sends it; websockets logs it at DEBUG as ``"> %s"``, its
    representation cut in the middle when longer than ``WEBSOCKETS_MAX_LOG_SIZE``."""
    return Frame(Opcode.TEXT, json.dumps(message).encode())


def uncut(message: dict[str, object]) -> str:
    """The frame's representation as logged with ``WEBSOCKETS_MAX_LOG_SIZE`` raised to show
    it whole."""
    sent = frame(message)
    sent.MAX_LOG_SIZE = 1000
    return str(sent)


ADD_TENANTS = {"command": "add-tenants-v1", "clientSecret": CLIENT_SECRET}

#: (what the text is, the text, the secrets it holds)
CASES = [
    ("a Bearer header", f"Authorization: Bearer {ACCESS_TOKEN}", (ACCESS_TOKEN,)),
    (
        "headers as httpx shows them",
        f"Headers({{'authorization': 'Bearer {ACCESS_TOKEN}', 'accept': '*/*'}})",
        (ACCESS_TOKEN,),
    ),
    (
        "access_token= in a form",
        f"grant_type=refresh_token&refresh_token={REFRESH_TOKEN}&access_token={ACCESS_TOKEN}",
        (ACCESS_TOKEN, REFRESH_TOKEN),
    ),
    (
        "access_token in JSON",
        json.dumps(
            {"access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN, "expires_in": 3600}
        ),
        (ACCESS_TOKEN, REFRESH_TOKEN),
    ),
    ("a clientSecret field", json.dumps(ADD_TENANTS), (CLIENT_SECRET,)),
    (
        "websockets' frame, whole",
        uncut({**ADD_TENANTS, "accessTokens": [ACCESS_TOKEN]}),
        (CLIENT_SECRET, ACCESS_TOKEN),
    ),
    (
        "websockets' frame, cut in the middle",
        str(frame({**ADD_TENANTS, "accessTokens": [ACCESS_TOKEN]})),
        (CLIENT_SECRET, ACCESS_TOKEN),
    ),
    (
        "websockets' frame of the answer, tokens as keys",
        uncut(
            {
                "response": "add-tenants-v1",
                "result": "ok",
                "tenantIds": {ACCESS_TOKEN: 29302},
                "invalidTokens": [],
            }
        ),
        (ACCESS_TOKEN,),
    ),
    (
        "user-info in a URL",
        f"cannot open postgresql+psycopg://sync:{PASSWORD}@db:5432/sync",
        (PASSWORD,),
    ),
    (
        "a registered secret on its own",
        f"webCRM refused the token {API_TOKEN} and the secret {CLIENT_SECRET}",
        (API_TOKEN, CLIENT_SECRET),
    ),
]
IDS = [case[0] for case in CASES]


def test_the_cut_frame_is_the_form_websockets_logs() -> None:
    # The case the frame dump stands for: websockets elides the middle, so the secret's start
    # or end may stand without its field name; the redactor must still mask it.
    [(_, text, _)] = [case for case in CASES if case[0] == "websockets' frame, cut in the middle"]
    assert "..." in text and '"clientSecret": "' in text and "accessTokens" not in text
    assert ACCESS_TOKEN[-PIECE:] in text


@pytest.mark.parametrize(("text", "secrets"), [case[1:] for case in CASES], ids=IDS)
def test_the_redactor_leaves_no_piece_of_a_secret(text: str, secrets: tuple[str, ...]) -> None:
    assert any(piece in text for secret in secrets for piece in pieces(secret))

    cleaned = Redactor([CLIENT_SECRET, API_TOKEN])(text)

    assert_no_piece(cleaned, *secrets)
    assert MASK in cleaned


def test_the_redactor_keeps_what_is_not_a_secret() -> None:
    redactor = Redactor([CLIENT_SECRET])
    text = "synced 12 customers of tenant acme in 0.4 s; 3 failed (see errors)"
    assert redactor(text) == text
    assert redactor(f"POST https://api.fortnox.se/3/customers {CLIENT_SECRET}") == (
        f"POST https://api.fortnox.se/3/customers {MASK}"
    )


def test_the_redactor_masks_secrets_registered_while_running() -> None:
    redactor = Redactor()
    redactor.add(REFRESH_TOKEN, None, "")
    assert_no_piece(redactor(f"rotated to {REFRESH_TOKEN}"), REFRESH_TOKEN)


@pytest.fixture
def log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose records go, as JSON lines, through the product's formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(Redactor([CLIENT_SECRET, API_TOKEN])))
    logger = logging.getLogger(f"{__name__}.formatter")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(("text", "secrets"), [case[1:] for case in CASES], ids=IDS)
def test_the_formatter_leaves_no_piece_of_a_secret_in_the_message(
    log: tuple[logging.Logger, io.StringIO], text: str, secrets: tuple[str, ...]
) -> None:
    logger, stream = log
    logger.debug("sent %s", text)  # formatted late, from its arguments, as libraries log

    [entry] = lines(stream)

    assert entry["level"] == "DEBUG" and entry["logger"] == logger.name
    assert_no_piece(stream.getvalue(), *secrets)


def test_the_formatter_masks_secrets_in_extra_fields(
    log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = log
    logger.info(
        "request sent",
        extra={
            "tenant": "acme",
            "token": API_TOKEN,
            "body": {"grant": {"client": CLIENT_SECRET}, "tried": [API_TOKEN, CLIENT_SECRET]},
            "sent": f"refresh_token={REFRESH_TOKEN}",
            "status": 200,
        },
    )

    [entry] = lines(stream)

    assert entry["message"] == "request sent"
    assert entry["tenant"] == "acme" and entry["status"] == 200
    assert_no_piece(stream.getvalue(), API_TOKEN, REFRESH_TOKEN, CLIENT_SECRET)


def test_the_formatter_masks_secrets_in_an_exceptions_text(
    log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = log
    try:
        raise RuntimeError(f"login refused for {API_TOKEN}: {json.dumps(ADD_TENANTS)}")
    except RuntimeError:
        logger.exception("the change feed stopped")

    [entry] = lines(stream)

    assert isinstance(entry["exception"], str)
    assert "RuntimeError: login refused for" in entry["exception"]
    assert_no_piece(stream.getvalue(), API_TOKEN, CLIENT_SECRET)


def test_setup_logging_routes_the_libraries_records_through_the_formatter() -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    try:
        setup_logging(Redactor([CLIENT_SECRET]), level=logging.DEBUG, stream=stream)
        sent = frame({**ADD_TENANTS, "accessTokens": [ACCESS_TOKEN]})
        logging.getLogger("websockets.client").debug("> %s", sent)
        logging.getLogger("httpx").debug("Authorization: Bearer %s", ACCESS_TOKEN)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)

    assert [entry["logger"] for entry in lines(stream)] == ["websockets.client", "httpx"]
    assert_no_piece(stream.getvalue(), CLIENT_SECRET, ACCESS_TOKEN)
