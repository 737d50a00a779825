"""The sync engine: change detection, plan, apply, three-way merge, matching.

It talks only to the ports in :mod:`webcrm_fortnox.engine.ports` (a record source per system and
entity, a state store per tenant); one run is :func:`sync_entity`::

    result = await sync_entity(spec, state, {"webcrm": organisations, "fortnox": customers})
    raise SystemExit(result.exit_code)      # 0 synced/excluded, 3 some need attention, 1 aborted
"""

from webcrm_fortnox.engine.apply import RecordOutcome, RecordStatus
from webcrm_fortnox.engine.matching import Ambiguity, MatchResult, Pair, match_records
from webcrm_fortnox.engine.merge import FieldChange, merge
from webcrm_fortnox.engine.plan import Action, ActionKind, Mode, Plan, plan_run
from webcrm_fortnox.engine.review import (
    ReviewError,
    propose_matches,
    resolve_conflict,
)
from webcrm_fortnox.engine.sync import RunResult, RunStatus, sync_entity

__all__ = [
    "Action",
    "ActionKind",
    "Ambiguity",
    "FieldChange",
    "MatchResult",
    "Mode",
    "Pair",
    "Plan",
    "RecordOutcome",
    "RecordStatus",
    "ReviewError",
    "RunResult",
    "RunStatus",
    "match_records",
    "merge",
    "plan_run",
    "propose_matches",
    "resolve_conflict",
    "sync_entity",
]
