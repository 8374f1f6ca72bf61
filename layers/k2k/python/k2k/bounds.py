"""Validation at the edge, once: the base and the field types every request model is built from.

A request model derives from `Input`: a field it does not know is refused, never silently dropped.
Each of its fields takes one of the types below, so every string, list and number has a bound and
the bounds live here only. Stored and response models derive from `Model` and take what the table
holds: a rule added here never makes yesterday's data unreadable. Where one shape is both (a line's
fields, a company's settings), the stored model is `X` and the request's is `XIn(Input, X)`, which
only forbids unknown fields and narrows what needs narrowing (emails, time zones).

An error message here is what the client reads (k2k.api passes a validator's message through).
"""

import re
from decimal import Decimal
from functools import cache
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, ValidationError

from k2k.models import Model

# A request body larger than this is refused (413) before it is parsed. The largest legitimate one
# is a 500-line invoice correction (~150 KB); a vendor's PDF upload has its own, larger limit.
MAX_BODY_BYTES = 256 * 1024
# A partner's inventory batch (k2k.services.inbound): 500 full lines are ~230 KB of JSON.
INBOUND_BODY_BYTES = 1024 * 1024
# A vendor invoice uploaded by hand (k2k.services.invoices): base64 in a JSON body stays under the 6 MB Lambda
# payload; its body is the one allowed past MAX_BODY_BYTES with its PDF.
MAX_PDF_BYTES = 4 * 1024 * 1024
MAX_PDF_BASE64 = (MAX_PDF_BYTES + 2) // 3 * 4
UPLOAD_BODY_BYTES = MAX_PDF_BASE64 + 64 * 1024


class Input(Model):
    """A request model: unknown fields are refused, every value is bounded. Code may build one from the
    stored shape it narrows (a `Location` where a `LocationIn` is wanted): it is read by its fields."""

    model_config = ConfigDict(extra="forbid", from_attributes=True, defer_build=True)


# -- numbers ----------------------------------------------------------------------------------------

def _whole(value: Any) -> Any:
    # JSON `true` is not 1 box, "7" is a string and 7.5 is not a count. A Decimal is how DynamoDB
    # gives back a stored int, so an integral one is taken.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("must be a whole number")
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise ValueError("must be a whole number")
        return int(value)
    return value


# The bounds come first: so they are the integer's own (and the OpenAPI document's minimum/maximum).
Boxes = Annotated[int, Field(ge=1, le=100_000), BeforeValidator(_whole)]
LineBoxes = Annotated[int, Field(ge=1, le=1_000), BeforeValidator(_whole)]  # one cart or prebook line
BoxCount = Annotated[int, Field(ge=0, le=100_000), BeforeValidator(_whole)]
StockBoxes = Annotated[int, Field(ge=0, le=1_000_000), BeforeValidator(_whole)]
Quantity = Annotated[int, Field(ge=1, le=1_000_000), BeforeValidator(_whole)]  # units of a product on a PO line
BunchesPerBox = Annotated[int, Field(ge=1, le=10_000), BeforeValidator(_whole)]
StemsPerBunch = Annotated[int, Field(ge=1, le=1_000), BeforeValidator(_whole)]
Days = Annotated[int, Field(ge=0, le=365), BeforeValidator(_whole)]
ShipDays = Annotated[int, Field(ge=0, le=30), BeforeValidator(_whole)]
TimerMinutes = Annotated[int, Field(ge=1, le=60), BeforeValidator(_whole)]
SheetRow = Annotated[int, Field(ge=1, le=1_048_576), BeforeValidator(_whole)]  # a row of an Excel sheet
Version = Annotated[int, Field(ge=1, le=1_000_000_000, description="the version you read; 409 if it changed since"),
                    BeforeValidator(_whole)]

# Money is exact: a finite Decimal, at most 3 decimals, never negative, and never absurd.
MAX_UNIT_MONEY = Decimal("100000")
MAX_MONEY = Decimal("100000000")
UnitMoney = Annotated[Decimal, Field(ge=0, le=MAX_UNIT_MONEY, max_digits=9, decimal_places=3, allow_inf_nan=False,
                            description="per stem or bunch: at least 0, at most 3 decimals")]
Money = Annotated[Decimal, Field(ge=0, le=MAX_MONEY, max_digits=12, decimal_places=3, allow_inf_nan=False,
                        description="an amount: at least 0, at most 3 decimals")]
Percent = Annotated[Decimal, Field(ge=0, lt=100, max_digits=6, decimal_places=3, allow_inf_nan=False)]
Inches = Annotated[Decimal, Field(gt=0, le=200, max_digits=7, decimal_places=2, allow_inf_nan=False)]

# -- strings ----------------------------------------------------------------------------------------

CompanyId = Annotated[str, Field(min_length=3, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$",
                                 description="lowercase letters, digits and hyphens")]
Code = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                          description="an id the API gave")]
Name = Annotated[str, Field(min_length=1, max_length=120)]
Label = Annotated[str, Field(max_length=60)]
Short = Annotated[str, Field(max_length=40)]
Tag = Annotated[str, Field(max_length=20)]
Note = Annotated[str, Field(max_length=500)]
Confirm = Annotated[str, Field(max_length=20, description="type CONFIRM")]

# An address SES can deliver to: local@domain, ASCII, a dot-atom local part (RFC 5322) and a domain of
# letter-digit-hyphen labels with a top-level one of letters. Deliberately ours and not the
# email-validator package: SES accepts nothing wider, and that package brings dnspython into every
# function's cold start for checks (DNS lookups) we would not run.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"{_LOCAL}@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}")
MAX_EMAIL = 254


def is_email(value: str) -> bool:
    """Whether SES could deliver to this address (the one rule: requests and consumers share it)."""
    return len(value) <= MAX_EMAIL and len(value.partition("@")[0]) <= 64 and _EMAIL.fullmatch(value) is not None


def _email(value: str) -> str:
    if not is_email(value):
        raise ValueError("not an email address (name@example.com)")
    return value


Email = Annotated[str, Field(max_length=MAX_EMAIL, json_schema_extra={"format": "email"}), AfterValidator(_email)]
Emails = Annotated[list[Email], Field(max_length=20)]

DEFAULT_TIMEZONE = "America/New_York"


def is_timezone(value: str) -> bool:
    """A name in the IANA time zone database, as the tzdata package ships it to Lambda (a machine's own
    zoneinfo files may add names such as `localtime` that mean nothing elsewhere)."""
    return value in _iana_zones()


@cache
def _iana_zones() -> frozenset[str]:
    from importlib import resources

    return frozenset(resources.files("tzdata").joinpath("zones").read_text().split())


def _timezone(value: str) -> str:
    if not is_timezone(value):
        raise ValueError("not a time zone of the IANA database (e.g. America/New_York)")
    return value


Timezone = Annotated[str, Field(min_length=1, max_length=64, examples=[DEFAULT_TIMEZONE],
                                description="a time zone of the IANA database"), AfterValidator(_timezone)]


# -- path parameters ---------------------------------------------------------------------------------

# Every path parameter takes one of these (or Id, Code, an enum), through k2k.api's `...Path` annotations:
# a value past its bound is a 422 naming `path.<name>` before anything is read, and a key built from one
# stays far below DynamoDB's (2048-byte partition, 1024-byte sort key). A well-formed value that names
# nothing of the caller's is the 404 of the route.
ConnectionId = Annotated[str, Field(min_length=3, max_length=81, pattern=r"^[a-z0-9-]+\.[a-z0-9-]+$",
                                    description="<vendor company id>.<buyer company id>")]
DocumentNo = Annotated[str, Field(min_length=1, max_length=40, description="a document number as the API gave it")]
LineNo = Annotated[int, Field(ge=1, le=10_000, description="a line's number on its document")]
InvoiceNo = Annotated[int, Field(ge=1, le=1_000_000_000, description="the vendor's invoice number")]


# -- pages of a list ----------------------------------------------------------------------------------

# Every list answers a page: at most `limit` items (default PAGE_SIZE) and a `next_token` to ask for the
# next. The ceiling keeps an answer far below Lambda's 6 MB response limit (a PO is ~5 KB at 20 lines).
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
PageSize = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE,
                                description=f"items per page, at most {MAX_PAGE_SIZE} (default {PAGE_SIZE})")]
PageToken = Annotated[str, Field(min_length=1, max_length=2048, pattern=r"^[A-Za-z0-9_-]+$",
                                 description="the next_token of the previous page, as it was given")]


# -- what the client reads ----------------------------------------------------------------------------

def problems(errors: ValidationError | list[Any], where: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """pydantic's errors in the API's words: one {field, message} per problem, the field as a dotted
    path (`body.lines.0.boxes`), the message in the trade's words, with no library text in it."""
    found = errors.errors() if isinstance(errors, ValidationError) else errors
    out = []
    for error in found:
        loc = [str(p) for p in (*where, *(error.get("loc") or ()))]
        if error.get("type") == "json_invalid":
            loc = loc[:1]  # the position in the text is not a field
        out.append({"field": ".".join(loc) or "body", "message": message(error)})
    return out


_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be more than {gt}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items",
    "string_too_short": "must be at least {min_length} characters",
    "string_too_long": "must be at most {max_length} characters",
    "string_pattern_mismatch": "has characters or a form that is not allowed here",
    "string_type": "must be a string",
    "string_unicode": "is not valid Unicode text",
    "decimal_max_places": "must have at most {decimal_places} decimals",
    "decimal_max_digits": "has too many digits",
    "decimal_whole_digits": "has too many digits",
    "finite_number": "must be a finite number",
    "decimal_parsing": "must be a decimal number",
    "decimal_type": "must be a decimal number",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "date_type": "must be a date (YYYY-MM-DD)",
    "date_parsing": "must be a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "must be a date (YYYY-MM-DD)",
    "date_from_datetime_inexact": "must be a date (YYYY-MM-DD)",
    "time_type": "must be a time of day (HH:MM:SS)",
    "time_parsing": "must be a time of day (HH:MM:SS)",
    "datetime_type": "must be a date and time (ISO 8601)",
    "datetime_parsing": "must be a date and time (ISO 8601)",
    "datetime_from_date_parsing": "must be a date and time (ISO 8601)",
    "enum": "must be one of {expected}",
    "literal_error": "must be one of {expected}",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be a list",
    "json_invalid": "is not valid JSON",
    "json_type": "is not valid JSON",
}


def message(error: Any) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])  # our own validators' words (see above)
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    template = _MESSAGES.get(kind)
    if template is None:
        return "is not valid"
    try:
        return template.format(**{k: _plain(v) for k, v in ctx.items()})
    except (KeyError, IndexError):
        return "is not valid"


def _plain(value: Any) -> Any:
    return format(value, "f") if isinstance(value, Decimal) else value
