"""Every kind of record the emulator stores."""

from __future__ import annotations

from webcrm_fortnox.webcrm.emulator.deliveries import DELIVERIES
from webcrm_fortnox.webcrm.emulator.hooks import HOOK_KINDS
from webcrm_fortnox.webcrm.emulator.kinds import EntityKind
from webcrm_fortnox.webcrm.emulator.linked_data import LINKED_DATA
from webcrm_fortnox.webcrm.emulator.organisations import ORGANISATIONS
from webcrm_fortnox.webcrm.emulator.persons import PERSONS
from webcrm_fortnox.webcrm.emulator.quotation_lines import QUOTATION_LINES

KINDS: tuple[EntityKind, ...] = (
    ORGANISATIONS,
    PERSONS,
    DELIVERIES,
    QUOTATION_LINES,
    LINKED_DATA,
    *HOOK_KINDS.values(),
)
