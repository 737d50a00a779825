"""The ``/Queries`` scripts we build, read back by the emulator's parser of webCRM's language:
whatever a record holds, it stays one literal of its own condition and never changes the query.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from webcrm_fortnox.webcrm.emulator.queries import Comparison, Junction, parse
from webcrm_fortnox.webcrm.queries import Query

TEXT = st.text(alphabet=st.characters(exclude_characters="\x00"), max_size=60)
#: Strings made of the language's own pieces, so the property meets them far more often.
PIECES = st.lists(
    st.sampled_from(["'", "''", " OR ", " AND ", "--", ";", "=", "1", "OrganisationId", ")", "("]),
    max_size=12,
).map("".join)


@given(first=st.one_of(TEXT, PIECES), second=st.one_of(TEXT, PIECES))
def test_record_content_never_changes_the_query(first: str, second: str) -> None:
    script = (
        Query("Organisation")
        .where("OrganisationExtraCustom1", "=", first)
        .where("OrganisationName", "=", second)
        .script
    )
    query = parse(script)
    assert query.table.lower() == "organisation" and query.columns is None
    assert isinstance(query.where, Junction) and query.where.op == "and"
    left, right = query.where.parts
    assert isinstance(left, Comparison) and isinstance(right, Comparison)
    assert (left.column.name, left.op, left.literal.value) == (
        "OrganisationExtraCustom1",
        "=",
        first,
    )
    assert (right.column.name, right.op, right.literal.value) == ("OrganisationName", "=", second)
