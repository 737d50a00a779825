"""Adapter tests run against both emulators in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.adapters.emulators import Emulators, emulators


@pytest.fixture
async def env() -> AsyncIterator[Emulators]:
    async with emulators() as both:
        yield both
