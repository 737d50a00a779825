"""How long the webCRM client trusts what it read: shared by the client and the engine's adapters.

Kept apart from :mod:`.client` so that the adapters name these without loading the HTTP stack.
"""

from __future__ import annotations

from datetime import timedelta

#: How long a field setup found complete is trusted before a run reads it again: it changes when
#: an administrator edits webCRM's settings, rarely, and a missing field fails its writes anyway.
SETUP_MAX_AGE = 3600.0
#: Re-read this much before a ``changed_since`` cursor: the time zone in which webCRM compares
#: query timestamps is not documented, and a save in flight may land with an earlier time.
DEFAULT_OVERLAP = timedelta(minutes=5)
