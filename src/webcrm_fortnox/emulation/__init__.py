"""The kit both API emulators are built from (see :mod:`webcrm_fortnox.emulation.kit`)."""

from webcrm_fortnox.emulation.clock import EmulatorClock
from webcrm_fortnox.emulation.faults import FaultInjector, FaultSettings
from webcrm_fortnox.emulation.kit import (
    CONTROL_PREFIX,
    Caller,
    EmulatedConnectionDrop,
    EmulatedVendor,
    EmulatorKit,
    install,
)
from webcrm_fortnox.emulation.serve import serve
from webcrm_fortnox.emulation.stats import RequestStats
from webcrm_fortnox.emulation.storage import Record, Storage, Table

__all__ = [
    "CONTROL_PREFIX",
    "Caller",
    "EmulatedConnectionDrop",
    "EmulatedVendor",
    "EmulatorClock",
    "EmulatorKit",
    "FaultInjector",
    "FaultSettings",
    "Record",
    "RequestStats",
    "Storage",
    "Table",
    "install",
    "serve",
]
