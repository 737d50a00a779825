"""Looking for secrets in text by their pieces: a text that shows part of a secret leaks it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

#: the shortest run of a secret's characters that counts as showing it
PIECE = 8


def pieces(secret: str) -> Iterator[str]:
    """Every run of :data:`PIECE` characters of ``secret`` (the secret itself when shorter)."""
    for start in range(max(len(secret) - PIECE, 0) + 1):
        yield secret[start : start + PIECE]


def shown_pieces(text: str, secrets: Iterable[str], *, public: Iterable[str] = ()) -> list[str]:
    """The pieces of ``secrets`` that ``text`` shows, leaving out pieces of ``public`` values
    (a client id, say, that a secret happens to contain)."""
    known = tuple(public)
    return sorted(
        {
            piece
            for secret in secrets
            for piece in pieces(secret)
            if piece in text and not any(piece in value for value in known)
        }
    )
