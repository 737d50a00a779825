"""Document lines: webCRM quotation lines and Fortnox order or invoice rows, as one value.

The lines of a document sync as a unit: the canonical field ``lines`` holds all of them, in
order, as compact JSON text. One value per document lets the three-way merge treat lines like
any other field (changed on one side → the whole list propagates; changed on both → the
policy decides), and makes them hashable and storable in the base snapshot as they are.

A line is the article number (only when the article exists in Fortnox; otherwise the line is a
free-text row), a description, quantity, unit price, discount in percent and VAT in percent.
Numbers are rounded half-up to two decimals, the precision Fortnox keeps (reference §8.4), and
written without trailing zeros. Totals are not part of a line: both servers compute them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any, Final

from webcrm_fortnox.domain.errors import MappingError
from webcrm_fortnox.domain.normalise import text

_CENT: Final = Decimal("0.01")
NO_LINES: Final = "[]"
#: The canonical field holding a document's lines.
LINES: Final = "lines"
#: Fortnox's word for "clear this field" (reference §2); never a value.
API_BLANK: Final = "API_BLANK"

# Fortnox's published character set (reference §2, 2000359 "Värdet innehåller ej tillåtna
# tecken") has no straight quotes, brackets or bars, which line texts typed in webCRM often
# hold ('14" screen'). A description takes the nearest allowed characters on both sides, so the
# line can be written to Fortnox and reads back equal.
_FORTNOX_TEXT: Final = str.maketrans(
    {'"': "’’", "“": "’’", "”": "’’", "'": "’", "‘": "’", "[": "(", "]": ")", "<": "(",
     ">": ")", "|": "/", "~": "-"}
)  # fmt: skip


def line_text(value: Any) -> str:
    """A line's description in normal form: clean text in characters Fortnox accepts."""
    return text(value).translate(_FORTNOX_TEXT)


def number(value: Any) -> str:
    """A quantity, price or percentage in normal form: ``"2"``, ``"99.5"``; blank is ``"0"``.

    Any size is kept exactly (``1e30`` is thirty zeros after a one, not an error that would
    stop the run reading the record): whether an amount is too large is the target system's to
    say, for that record alone. A value that is not a finite number keeps its text
    (``"Infinity"``), which Fortnox refuses as not numeric, again for that record alone.
    """
    try:
        amount = Decimal(str(value).strip()) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        amount = Decimal(0)
    if not amount.is_finite():
        return str(amount)
    with localcontext() as context:
        # Enough digits for the whole part and the cents, whatever the magnitude.
        context.prec = max(context.prec, amount.adjusted() + 4)
        rounded = amount.quantize(_CENT, rounding=ROUND_HALF_UP).normalize()
        return format(rounded + 0, "f")  # + 0 turns -0 into 0


@dataclass(frozen=True)
class Line:
    """One line of a document, normalised."""

    article: str | None
    description: str
    quantity: str
    price: str
    discount: str
    vat: str

    @classmethod
    def of(
        cls,
        *,
        article: Any,
        description: Any,
        quantity: Any,
        price: Any,
        discount: Any,
        vat: Any,
    ) -> Line:
        """A line from raw values as either system holds them."""
        return cls(
            article=text(article) or None,
            description=line_text(description),
            quantity=number(quantity),
            price=number(price),
            discount=number(discount),
            vat=number(vat),
        )

    def describe(self) -> str:
        """How a person reads the line: ``2 × 101 Hammer à 10 (−5 %, VAT 25 %)``."""
        what = " ".join(part for part in (self.article, self.description) if part) or "(blank)"
        extras = [f"−{self.discount} %"] if self.discount != "0" else []
        extras.append(f"VAT {self.vat} %")
        return f"{self.quantity} × {what} à {self.price} ({', '.join(extras)})"


def encode_lines(lines: Iterable[Line]) -> str:
    """The canonical value of a document's lines."""
    return json.dumps([asdict(line) for line in lines], ensure_ascii=False, separators=(",", ":"))


def decode_lines(value: Any) -> list[Line]:
    """The lines of a canonical value (``None`` or blank: no lines)."""
    if value in (None, ""):
        return []
    return [Line(**row) for row in json.loads(str(value))]


def lines_diff(old: Any, new: Any) -> list[str]:
    """What changes from ``old`` to ``new``, line by line, for ``plan``.

    Lines are compared by position (the way both systems order them); each entry says
    ``line n:`` and what is added, removed or changed.
    """
    before, after = decode_lines(old), decode_lines(new)
    out: list[str] = []
    for n in range(max(len(before), len(after))):
        was = before[n] if n < len(before) else None
        now = after[n] if n < len(after) else None
        if was == now:
            continue
        if was is None and now is not None:
            out.append(f"line {n + 1}: + {now.describe()}")
        elif now is None and was is not None:
            out.append(f"line {n + 1}: − {was.describe()}")
        elif was is not None and now is not None:
            changed = [
                f"{name} {_shown(getattr(was, name))} → {_shown(getattr(now, name))}"
                for name in ("article", "description", "quantity", "price", "discount", "vat")
                if getattr(was, name) != getattr(now, name)
            ]
            out.append(f"line {n + 1}: {'; '.join(changed)}")
    return out


def _shown(value: str | None) -> str:
    return value or "(blank)"


# --- Fortnox rows ------------------------------------------------------------------------------


def lines_from_rows(rows: Sequence[Mapping[str, Any]], quantity_field: str) -> list[Line]:
    """Lines from Fortnox rows (Fortnox names).

    Args:
        rows: ``OrderRows`` or ``InvoiceRows``.
        quantity_field: ``OrderedQuantity`` on orders, ``DeliveredQuantity`` on invoices.
    """
    return [
        Line.of(
            article=row.get("ArticleNumber"),
            description=row.get("Description"),
            quantity=row.get(quantity_field),
            price=row.get("Price"),
            discount=row.get("Discount"),
            vat=row.get("VAT"),
        )
        for row in rows
    ]


def rows_from_lines(lines: Iterable[Line], quantity_field: str) -> list[dict[str, Any]]:
    """Fortnox rows for ``lines``, without ``RowId``.

    Sent without RowIds, the rows replace the stored ones position by position and rows beyond
    them are dropped (reference §5.4), so the whole list is always sent: that works the same
    for a create, an update and a retry of either, and no RowId read earlier can be stale.

    Raises:
        MappingError: a line whose text is Fortnox's clearing word ``API_BLANK``.
    """
    rows = []
    for position, line in enumerate(lines, 1):
        if line.description.upper() == API_BLANK:
            # Fortnox reads this word as "clear the field": the row would lose its text.
            raise MappingError(
                f"line {position}: the text {line.description!r} is Fortnox's command to clear "
                "a field and cannot be a line's text; change it in webCRM",
                system="fortnox",
                field=LINES,
            )
        row: dict[str, Any] = {
            quantity_field: line.quantity,
            "Price": line.price,
            "Discount": line.discount,
            "DiscountType": "PERCENT",
            "VAT": line.vat,
        }
        if line.article:
            row["ArticleNumber"] = line.article
        if line.description:
            # A blank one is left out: Fortnox then takes the article's description.
            row["Description"] = line.description
        rows.append(row)
    return rows


# --- webCRM quotation lines ----------------------------------------------------------------------


@dataclass(frozen=True)
class QuotationLineMapping:
    """Where a quotation line keeps the article number and name: the product register's
    ``Data`` fields (``[tenant.articles]``), since webCRM copies an item's Data into the line.

    Attributes:
        article_data: ``n`` of the ``Data<n>`` holding the article number.
        name_data: ``n`` of the ``Data<n>`` holding the item name.
        known_articles: the article numbers that exist in Fortnox; a line naming another is a
            free-text line.
    """

    article_data: int
    name_data: int
    known_articles: frozenset[str]

    def line(self, quotation_line: Any) -> Line:
        """The line a webCRM quotation line (a :class:`~webcrm_fortnox.webcrm.models.QuotationLine`)
        stands for. The description is the line's memo, or the item name when it has none."""
        article = quotation_line.data(self.article_data)
        known = article if article and text(article) in self.known_articles else None
        description = quotation_line.memo or quotation_line.data(self.name_data)
        return Line.of(
            article=known,
            description=description,
            quantity=quotation_line.quantity,
            price=quotation_line.price,
            discount=quotation_line.discount,
            vat=quotation_line.vat_percentage,
        )

    def body(self, line: Line, *, position: int, item_id: int | None) -> dict[str, Any]:
        """A quotation line's fields (wire names) holding ``line`` at ``position`` (0-based).

        A line with a known article is linked to its product-register item, from which webCRM
        fills the Data fields the body does not set; the description always goes to the memo
        so it reads back the same.
        """
        body: dict[str, Any] = {
            "QuotationLineMemo": line.description,
            "QuotationLineQuantity": float(line.quantity),
            "QuotationLinePrice": float(line.price),
            "QuotationLineDiscount": float(line.discount),
            "QuotationLineVatPercentage": float(line.vat),
            "QuotationLineSortOrder": (position + 1) * 10,  # recorded: 10, 20, … (§5.4)
            f"QuotationLineData{self.article_data}": line.article or "",
        }
        if item_id is not None:
            body["QuotationLineLinkedDataId"] = item_id
        return body
