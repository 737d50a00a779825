"""Fixtures of the CLI tests: both emulators in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.harness import Systems, systems


@pytest.fixture
async def env() -> AsyncIterator[Systems]:
    async with systems() as both:
        yield both
