"""What each emulated Fortnox entity looks like: fields, defaults, read-only flags and limits.

Key order, defaults on a minimal create, ``null`` versus ``""`` and the numbers sent as strings all
follow the recordings (customers/find_id_1.yml, articles/limits/*.yml, invoices/row_*.yml,
orders/find_id_1.yml and the list answers in */all.yml). Where 2023 and late-2024 recordings
differ (``ContractReference``, ``VATCode``, ``CommodityCode``, ``StockWarning``) the newer form is
kept. Maximum lengths are the OpenAPI's.
"""

from __future__ import annotations

from typing import Any

from webcrm_fortnox.fortnox.emulator.schema import Field, Spec


def s(name: str, default: Any = None, n: int | None = None, **kw: Any) -> Field:
    """A string field."""
    return Field(name, "str", default, max_len=n, **kw)


def num(name: str, default: Any = 0.0, **kw: Any) -> Field:
    """A decimal number."""
    return Field(name, "float", default, **kw)


def integer(name: str, default: Any = 0, **kw: Any) -> Field:
    return Field(name, "int", default, **kw)


def flag(name: str, default: bool = False, **kw: Any) -> Field:
    return Field(name, "bool", default, **kw)


def day(name: str, default: Any = None, **kw: Any) -> Field:
    return Field(name, "date", default, **kw)


def ro(f: Field) -> Field:
    """The same field, read-only."""
    return Field(**{**f.__dict__, "ro": True})


URL = s("@url", ro=True)
URL_TAX_REDUCTION = s("@urlTaxReductionList", ro=True)

DELIVERY_TYPES = ("PRINT", "EMAIL", "PRINTSERVICE")

CUSTOMER: Spec = (
    URL,
    s("Address1", n=1024),
    s("Address2", n=1024),
    s("City", n=1024),
    s("Country", ro=True),
    s("Comments", n=1024),
    s("Currency", "SEK", 3),
    s("CostCenter"),
    s("CountryCode", n=2),
    flag("Active", True),
    s("CustomerNumber", n=1024, ident=True),
    Field(
        "DefaultDeliveryTypes",
        "obj",
        fields=tuple(s(k, "PRINT", choices=DELIVERY_TYPES) for k in ("Invoice", "Order", "Offer")),
    ),
    Field(
        "DefaultTemplates",
        "obj",
        fields=tuple(s(k, "DEFAULTTEMPLATE") for k in ("Order", "Offer", "Invoice", "CashInvoice")),
    ),
    s("DeliveryAddress1", n=1024),
    s("DeliveryAddress2", n=1024),
    s("DeliveryCity", n=1024),
    s("DeliveryCountry", ro=True),
    s("DeliveryCountryCode", n=2),
    s("DeliveryFax", n=1024),
    s("DeliveryName", n=1024),
    s("DeliveryPhone1", n=1024),
    s("DeliveryPhone2", n=1024),
    s("DeliveryZipCode", n=10),
    s("Email", "", 1024),
    s("EmailInvoice", "", 1024),
    s("EmailInvoiceBCC", "", 1024),
    s("EmailInvoiceCC", "", 1024),
    s("EmailOffer", "", 1024),
    s("EmailOfferBCC", "", 1024),
    s("EmailOfferCC", "", 1024),
    s("EmailOrder", "", 1024),
    s("EmailOrderBCC", "", 1024),
    s("EmailOrderCC", "", 1024),
    s("ExternalReference", n=1024),
    s("Fax", n=1024),
    s("GLN", n=13),
    s("GLNDelivery", n=13),
    num("InvoiceAdministrationFee", None),
    num("InvoiceDiscount", None),
    num("InvoiceFreight", None),
    s("InvoiceRemark", "", 1024),
    s("Name", n=1024),
    s("OrganisationNumber", "", 30),
    s("OurReference", "", 50),
    s("Phone1", n=1024),
    s("Phone2", n=1024),
    s("PriceList", "A"),
    s("Project", ""),
    # recorded: customers/find_with_sales_account.yml — a string here, a number on articles
    s("SalesAccount", n=4),
    flag("ShowPriceVATIncluded"),
    s("TermsOfDelivery", ""),
    s("TermsOfPayment", ""),
    s("Type", "COMPANY", choices=("PRIVATE", "COMPANY")),
    s("VATNumber", ""),
    s("VATType", "SEVAT", choices=("SEVAT", "SEREVERSEDVAT", "EUREVERSEDVAT", "EUVAT", "EXPORT")),
    s("VisitingAddress", n=128),
    s("VisitingCity", n=128),
    s("VisitingCountry", ro=True),
    s("VisitingCountryCode", n=2),
    s("VisitingZipCode", n=10),
    s("WayOfDelivery", ""),
    s("WWW", "", 128),
    s("YourReference", "", 50),
    s("ZipCode", n=10),
)

# recorded: customers/all.yml — ten fields, Phone from Phone1, null strings as ""
CUSTOMER_ITEM: Spec = (
    URL,
    s("Address1"),
    s("Address2"),
    s("City"),
    s("CustomerNumber"),
    s("Email"),
    s("Name"),
    s("OrganisationNumber"),
    s("Phone"),
    s("ZipCode"),
)

ARTICLE: Spec = (
    URL,
    s("ArticleNumber", n=50, ident=True),
    flag("Bulky"),
    integer("ConstructionAccount"),
    integer("Depth"),
    s("Description", n=200),
    ro(num("DisposableQuantity")),
    s("EAN", "", 30),
    integer("EUAccount", 3108),
    integer("EUVATAccount", 3106),
    integer("ExportAccount", 3105),
    integer("Height"),
    flag("Housework"),
    s("HouseworkType"),
    flag("Active", True),
    s("Manufacturer", n=50),
    s("ManufacturerArticleNumber", "", 50),
    s("Note", "", 10000),
    integer("PurchaseAccount", 4000),
    num("PurchasePrice", decimals=2),
    # recorded: articles/limits/quantity_in_stock_rounding_positive_value.yml (1.123 → 1.12)
    num("QuantityInStock", decimals=2),
    ro(num("ReservedQuantity")),
    integer("SalesAccount", 3001),
    flag("StockGoods"),
    s("StockPlace", n=100),
    ro(num("StockValue")),
    num("StockWarning", None),
    ro(s("SupplierName")),
    s("SupplierNumber"),
    s("Type", "STOCK", choices=("STOCK", "SERVICE")),
    s("Unit"),
    num("VAT", 25.0),
    flag("WebshopArticle"),
    integer("Weight"),
    integer("Width"),
    flag("Expired"),
    ro(num("SalesPrice", None)),
    s("CostCalculationMethod"),
    integer("StockAccount", None),
    integer("StockChangeAccount", None),
    num("DirectCost", None),
    num("FreightCost", None),
    num("OtherCost", None),
    s("DefaultStockPoint"),
    s("DefaultStockLocation"),
    s("CommodityCode", ""),
)

# recorded: articles/all.yml — quantities and prices as strings, VAT only when set explicitly
ARTICLE_ITEM: Spec = (
    URL,
    s("ArticleNumber"),
    s("Description"),
    num("DisposableQuantity", text=True),
    s("EAN"),
    flag("Housework"),
    num("PurchasePrice", text=True),
    num("SalesPrice", None),
    num("QuantityInStock", text=True),
    num("ReservedQuantity", text=True),
    s("StockPlace"),
    num("StockValue", text=True),
    s("Unit"),
    num("VAT", None),
    flag("WebshopArticle"),
)

UNIT: Spec = (URL, s("Code", n=20), s("CodeEnglish", "", 100), s("Description", n=100))
TERMS_OF_PAYMENT: Spec = (URL, s("Code", n=25), s("Description", "", 50))
CURRENCY: Spec = (
    URL,
    num("BuyRate"),
    s("Code", n=3),
    day("Date", ro=True),
    s("Description", "", 50),
    num("SellRate"),
    num("Unit", 1.0),
    flag("IsAutomatic", ro=True),
)
PRICE_LIST: Spec = (
    URL,
    s("Code", n=100),
    s("Description", "", 50),
    s("Comments", ""),
    flag("PreSelected"),
)
PRICE: Spec = (
    URL,
    s("ArticleNumber"),
    day("Date", ro=True),
    num("FromQuantity"),
    num("Percent"),
    num("Price", decimals=2),
    s("PriceList"),
)
PRICE_ITEM: Spec = (URL, s("ArticleNumber"), num("FromQuantity"), s("PriceList"), num("Price"))
COMPANY_INFORMATION: Spec = (
    s("Address"),
    s("City"),
    s("CountryCode"),
    integer("DatabaseNumber"),
    s("CompanyName"),
    s("OrganizationNumber"),
    s("VisitAddress"),
    s("VisitCity"),
    s("VisitCountryCode"),
    s("VisitZipCode"),
    s("ZipCode"),
)

HOUSEWORK_TYPES = (
    # rot
    "CONSTRUCTION",
    "ELECTRICITY",
    "GLASSMETALWORK",
    "GROUNDDRAINAGEWORK",
    "MASONRY",
    "PAINTINGWALLPAPERING",
    "HVAC",
    # rut
    "MAJORAPPLIANCEREPAIR",
    "MOVINGSERVICES",
    "ITSERVICES",
    "CLEANING",
    "TEXTILECLOTHING",
    "SNOWPLOWING",
    "GARDENING",
    "BABYSITTING",
    "OTHERCARE",
    # green technology
    "SOLARCELLS",
    "STORAGESELFPRODUCEDELECTRICITY",
    "CHARGINGSTATIONELECTRICVEHICLES",
    # not a tax reduction; discontinued ones are refused with their own code
    "OTHERCOSTS",
    "COOKING",
    "TUTORING",
)


def _row_common(quantity_fields: tuple[Field, ...]) -> dict[str, Field]:
    fields = (
        integer("AccountNumber", None),
        s("ArticleNumber"),
        ro(num("ContributionPercent", text=True)),
        ro(num("ContributionValue", text=True)),
        ro(num("Cost")),
        s("CostCenter", ""),
        s("Description", "", 255),
        num("Discount"),
        s("DiscountType", "PERCENT", choices=("AMOUNT", "PERCENT")),
        flag("HouseWork"),
        integer("HouseWorkHoursToReport", None),
        s("HouseWorkType", choices=HOUSEWORK_TYPES),
        # recorded: invoices/row_price_limit_round_up.yml (1.125 → 1.13)
        num("Price", None, decimals=2),
        ro(num("PriceExcludingVAT")),
        s("Project", ""),
        integer("RowId", None),
        s("StockPointCode"),
        s("StockPointId"),
        ro(num("Total")),
        ro(num("TotalExcludingVAT")),
        s("Unit", ""),
        num("VAT", None),
        s("VATCode"),
        *quantity_fields,
    )
    return {f.name: f for f in fields}


def _pick(fields: dict[str, Field], names: str) -> Spec:
    return tuple(fields[name] for name in names.split())


# recorded: invoices/row_delivered_quantity_decimals_round_up.yml — "1.125" stored as "1.13"
_DELIVERED = num("DeliveredQuantity", decimals=2, text=True)
_INVOICE_ROW_FIELDS = _row_common((_DELIVERED,))
INVOICE_ROW: Spec = _pick(
    _INVOICE_ROW_FIELDS,
    "AccountNumber ArticleNumber ContributionPercent ContributionValue Cost CostCenter "
    "DeliveredQuantity Description Discount DiscountType HouseWork HouseWorkHoursToReport "
    "HouseWorkType Price PriceExcludingVAT Project RowId StockPointCode Total TotalExcludingVAT "
    "Unit VAT VATCode",
)
_ORDER_ROW_FIELDS = _row_common(
    (
        _DELIVERED,
        num("OrderedQuantity", decimals=2, text=True),
        ro(num("ReservedQuantity", text=True)),
    )
)
# recorded: orders/save_with_nested_model.yml — no VAT-exclusive amounts on order rows
ORDER_ROW: Spec = _pick(
    _ORDER_ROW_FIELDS,
    "AccountNumber ArticleNumber ContributionPercent ContributionValue Cost CostCenter "
    "DeliveredQuantity Description Discount DiscountType HouseWork HouseWorkHoursToReport "
    "HouseWorkType OrderedQuantity Price Project ReservedQuantity RowId StockPointCode "
    "StockPointId Total Unit VAT",
)
# Fields a client may send on rows although the recorded answers do not show them.
INVOICE_ROW_INPUT: Spec = INVOICE_ROW
ORDER_ROW_INPUT: Spec = (*ORDER_ROW, _ORDER_ROW_FIELDS["VATCode"])


def _email_information(subject: str) -> Field:
    return Field(
        "EmailInformation",
        "obj",
        fields=(
            s("EmailAddressFrom", n=100),
            s("EmailAddressTo", "", 1024),
            s("EmailAddressCC", n=1024),
            s("EmailAddressBCC", n=1024),
            s("EmailSubject", subject, 100),
            s("EmailBody", " ", 20000),
        ),
    )


def _document_fields(kind: str) -> dict[str, Field]:
    reference = ro(s("_", "0"))
    fields = [
        URL,
        URL_TAX_REDUCTION,
        ro(s("AccountingMethod", "ACCRUAL")),
        s("Address1", "", 1024),
        s("Address2", "", 1024),
        num("AdministrationFee"),
        ro(num("AdministrationFeeVAT")),
        ro(num("Balance")),
        ro(num("BasisTaxReduction")),
        ro(flag("Booked")),
        ro(flag("Cancelled")),
        s("City", "", 1024),
        s("Comments", "", 1024),
        ro(s("ContractReference", "0")),
        ro(num("ContributionPercent")),
        ro(num("ContributionValue")),
        flag("CopyRemarks"),
        s("CostCenter", ""),
        s("Country", "", 1024),
        ro(flag("Credit", text=True)),
        Field(**{**reference.__dict__, "name": "CreditInvoiceReference"}),
        s("Currency", "SEK", 3),
        num("CurrencyRate", 1.0),
        num("CurrencyUnit", 1.0),
        s("CustomerName", "", 1024),
        s("CustomerNumber", n=1024),
        s("DeliveryState", "delivery", choices=("registration", "reservation", "delivery")),
        s("DeliveryAddress1", "", 1024),
        s("DeliveryAddress2", "", 1024),
        s("DeliveryCity", "", 1024),
        s("DeliveryCountry", "", 1024),
        day("DeliveryDate"),
        s("DeliveryName", "", 1024),
        s("DeliveryZipCode", "", 1024),
        s("DocumentNumber", n=1024, ident=True),
        day("DueDate"),
        Field(
            "EDIInformation",
            "obj",
            fields=(
                s("EDIGlobalLocationNumber", n=13),
                s("EDIGlobalLocationNumberDelivery", n=13),
                s("EDIInvoiceExtra1"),
                s("EDIInvoiceExtra2"),
                s("EDIOurElectronicReference"),
                s("EDIYourElectronicReference"),
                ro(s("EDIStatus", "")),
            ),
        ),
        flag("EUQuarterlyReport"),
        _email_information("Faktura {no} bifogas" if kind == "invoice" else "Order {no} bifogas"),
        s("ExternalInvoiceReference1", "", 80),
        s("ExternalInvoiceReference2", "", 80),
        ro(day("FinalPayDate")),
        num("Freight"),
        ro(num("FreightVAT")),
        ro(num("Gross")),
        ro(flag("HouseWork")),
        day("InvoiceDate"),
        ro(s("InvoicePeriodEnd", "")),
        ro(s("InvoicePeriodStart", "")),
        Field(**{**reference.__dict__, "name": "InvoiceReference"}),
        Field("InvoiceRows", "list", fields=INVOICE_ROW),
        s(
            "InvoiceType",
            "INVOICE",
            choices=(
                "INVOICE",
                "AGREEMENTINVOICE",
                "INTRESTINVOICE",
                "SUMMARYINVOICE",
                "CASHINVOICE",
            ),
        ),
        Field("Labels", "list"),
        s("Language", "SV", choices=("SV", "EN")),
        ro(day("LastRemindDate")),
        ro(num("Net")),
        flag("NotCompleted"),
        ro(flag("NoxFinans")),
        s("OCR", "", 1024),
        Field(**{**reference.__dict__, "name": "OfferReference"}),
        day("OrderDate"),
        Field("OrderRows", "list", fields=ORDER_ROW),
        Field(**{**reference.__dict__, "name": "OrderReference"}),
        ro(s("OrderType", "Order")),
        ro(s("OrganisationNumber", "")),
        s("OurReference", "", 50),
        day("OutboundDate"),
        s("PaymentWay", "", choices=("CASH", "CARD", "AG")),
        s("Phone1", "", 1024),
        s("Phone2", "", 1024),
        s("PriceList", "A"),
        s("PrintTemplate", "st" if kind == "invoice" else "oc"),
        s("Project", ""),
        s("Remarks", "", 1024),
        ro(integer("Reminders")),
        ro(num("RoundOff")),
        ro(flag("Sent")),
        s("StockPointCode"),
        s("StockPointId"),
        ro(num("TaxReduction", None)),
        s("TaxReductionType", "none", choices=("none", "rot", "rut", "green")),
        s("TermsOfDelivery", ""),
        s("TermsOfPayment", ""),
        s("TimeBasisReference"),
        ro(num("Total")),
        ro(num("TotalToPay")),
        ro(num("TotalVAT")),
        flag("VATIncluded"),
        ro(integer("VoucherNumber", None)),
        ro(s("VoucherSeries")),
        ro(integer("VoucherYear", None)),
        ro(flag("WarehouseReady", True)),
        s("WayOfDelivery", ""),
        s("YourOrderNumber", "", 75),
        s("YourReference", "", 50),
        s("ZipCode", "", 1024),
    ]
    return {f.name: f for f in fields}


_INVOICE_FIELDS = _document_fields("invoice")
_ORDER_FIELDS = _document_fields("order")

# recorded key order: invoices/row_price_limit_round_up.yml (Dec 2024)
INVOICE: Spec = _pick(
    _INVOICE_FIELDS,
    "@url @urlTaxReductionList AccountingMethod Address1 Address2 AdministrationFee "
    "AdministrationFeeVAT Balance BasisTaxReduction Booked Cancelled City Comments "
    "ContractReference ContributionPercent ContributionValue CostCenter Country Credit "
    "CreditInvoiceReference Currency CurrencyRate CurrencyUnit CustomerName CustomerNumber "
    "DeliveryAddress1 DeliveryAddress2 DeliveryCity DeliveryCountry DeliveryDate DeliveryName "
    "DeliveryZipCode DocumentNumber DueDate EDIInformation EUQuarterlyReport EmailInformation "
    "ExternalInvoiceReference1 ExternalInvoiceReference2 FinalPayDate Freight FreightVAT Gross "
    "HouseWork InvoiceDate InvoicePeriodEnd InvoicePeriodStart InvoiceReference InvoiceRows "
    "InvoiceType Labels Language LastRemindDate Net NotCompleted NoxFinans OCR OfferReference "
    "OrderReference OrganisationNumber OurReference OutboundDate PaymentWay Phone1 Phone2 "
    "PriceList PrintTemplate Project Remarks Reminders RoundOff Sent TaxReduction "
    "TaxReductionType TermsOfDelivery TermsOfPayment TimeBasisReference Total TotalToPay "
    "TotalVAT VATIncluded VoucherNumber VoucherSeries VoucherYear WarehouseReady WayOfDelivery "
    "YourOrderNumber YourReference ZipCode",
)
# recorded key order: orders/find_id_1.yml
ORDER: Spec = _pick(
    _ORDER_FIELDS,
    "@url @urlTaxReductionList AdministrationFee AdministrationFeeVAT Address1 Address2 "
    "BasisTaxReduction Cancelled City Comments ContributionPercent ContributionValue CopyRemarks "
    "Country CostCenter Currency CurrencyRate CurrencyUnit CustomerName CustomerNumber "
    "DeliveryState DeliveryAddress1 DeliveryAddress2 DeliveryCity DeliveryCountry DeliveryDate "
    "DeliveryName DeliveryZipCode DocumentNumber EmailInformation ExternalInvoiceReference1 "
    "ExternalInvoiceReference2 Freight FreightVAT Gross HouseWork InvoiceReference Labels "
    "Language Net NotCompleted OfferReference OrderDate OrderRows OrderType OrganisationNumber "
    "OurReference Phone1 Phone2 PriceList PrintTemplate Project WarehouseReady OutboundDate "
    "Remarks RoundOff Sent TaxReduction TermsOfDelivery TermsOfPayment TimeBasisReference Total "
    "TotalToPay TotalVAT VATIncluded WayOfDelivery YourReference YourOrderNumber ZipCode "
    "StockPointCode StockPointId TaxReductionType",
)
# recorded: invoices/all.yml (CurrencyRate as a string)
INVOICE_ITEM: Spec = (
    *_pick(
        _INVOICE_FIELDS,
        "@url Balance Booked Cancelled CostCenter Currency",
    ),
    num("CurrencyRate", text=True),
    *_pick(
        _INVOICE_FIELDS,
        "CurrencyUnit CustomerName CustomerNumber DocumentNumber DueDate "
        "ExternalInvoiceReference1 ExternalInvoiceReference2 InvoiceDate InvoiceType NoxFinans OCR "
        "VoucherNumber VoucherSeries VoucherYear WayOfDelivery TermsOfPayment Project Sent Total "
        "FinalPayDate",
    ),
)
# recorded: orders/all.yml
ORDER_ITEM: Spec = _pick(
    _ORDER_FIELDS,
    "@url Cancelled Currency CustomerName CustomerNumber DeliveryDate DocumentNumber "
    "ExternalInvoiceReference1 ExternalInvoiceReference2 OrderDate OrderType Project Sent Total",
)
