"""Data import rules as the trade states them (DOMAIN.md, Data import), with no AWS."""

from datetime import date, datetime
from decimal import Decimal as D

import pytest

from k2k.imports import rules, service
from k2k.imports.model import ImportType, Job, JobStatus, box_code, new_job_id
from k2k.imports.spec import INVENTORY_IN_BOXES, OPEN_CREDITS, OPEN_INVOICES, fold, match_header
from k2k.imports.validate import Context, Merged, RowValidator
from k2k.inventory import BoxType, UnitType

HEADER = ["Invoice #", "Customer Code", "Invoice Date", "Invoice Balance", "Customer PO", "Location Code"]
BLOOM = Context(["MIA", "NYC"], customers=["PETALS", "ROSEBUD"])
SINGLE = Context(["MIA"], customers=["PETALS"])


def check(row, context=BLOOM, header=HEADER, spec=OPEN_INVOICES, merged=()):
    match = match_header(spec, header, multi_location=context.multi_location)
    return RowValidator(spec, match, context, merged)(2, row)


def rejected(row, **kwargs):
    values, message = check(row, **kwargs)
    assert values is None
    return message


def by_columns(validator, numbers, rows):
    """The verdicts of validating rows a column at a time (values as tuples in `order`), as the import does."""
    _, columns, messages = validator.checked(numbers, rows)
    return [(None, messages[i]) if i in messages else (values, None)
            for i, values in enumerate(zip(*columns))]  # noqa: B905


# -- cells ----------------------------------------------------------------------------------------

def test_an_invoice_number_has_at_most_20_characters():
    assert rules.text(20)("A" * 20) == "A" * 20
    with pytest.raises(rules.Reject, match=r"at most 20 characters \(got 21\)"):
        rules.text(20)("A" * 21)


def test_a_number_typed_as_a_number_is_still_a_code():
    assert rules.text(20)(10021.0) == "10021"
    assert rules.text(20)(" PO-7 ") == "PO-7"


@pytest.mark.parametrize(("value", "expected"), [
    (date(2026, 3, 5), date(2026, 3, 5)),
    (datetime(2026, 3, 5), date(2026, 3, 5)),
    ("2026-03-05", date(2026, 3, 5)),
    (" 2026-03-05 ", date(2026, 3, 5)),
])
def test_an_invoice_date_is_a_date_cell_or_text_written_yyyy_mm_dd(value, expected):
    assert rules.ymd_date(value) == expected


@pytest.mark.parametrize(("value", "reason"), [
    ("03/05/2026", "must be a date written YYYY-MM-DD (got 03/05/2026)"),
    ("2026-3-5", "must be a date written YYYY-MM-DD (got 2026-3-5)"),
    ("2026-02-30", "2026-02-30 is not a real date"),
    (46086.0, "must be a date written YYYY-MM-DD (got the number 46086)"),
    (datetime(2026, 3, 5, 10, 30), "must be a date without a time (got 2026-03-05 10:30)"),
])
def test_anything_else_is_not_guessed_at(value, reason):
    with pytest.raises(rules.Reject, match=reason.replace("(", r"\(").replace(")", r"\)")):
        rules.ymd_date(value)


@pytest.mark.parametrize(("value", "expected"), [
    (1250.375, D("1250.375")), ("80.5", D("80.500")), (12, D("12.000")), ("12.3450", D("12.345")),
    (0.1 + 0.2, D("0.300")),  # what Excel shows, not the float's tail
])
def test_a_balance_has_up_to_three_decimals(value, expected):
    assert rules.amount(3, positive=True)(value) == expected


@pytest.mark.parametrize(("value", "reason"), [
    (12.3456, "at most 3 decimals (got 12.3456)"),
    ("12.3456", "at most 3 decimals (got 12.3456)"),
    (0, "must be more than 0 (got 0)"),
    (-5, "must be more than 0 (got -5)"),
    ("1,250.00", "must be a number like 1234.50 (got 1,250.00)"),
    ("$12", "must be a number like 1234.50 (got $12)"),
    (True, "must be a number (got TRUE)"),
    (1e12, "must be at most 999,999,999.999"),
])
def test_a_balance_written_with_four_decimals_is_rejected_never_rounded(value, reason):
    with pytest.raises(rules.Reject) as e:
        rules.amount(3, positive=True)(value)
    assert e.value.rule.startswith(reason)


def test_boxes_are_whole_and_box_and_unit_types_forgive_case():
    assert rules.whole(1, 100)(12.0) == 12
    assert rules.whole(1, 100)("12") == 12
    with pytest.raises(rules.Reject, match="whole number"):
        rules.whole(1, 100)(2.5)
    with pytest.raises(rules.Reject, match="between 1 and 100"):
        rules.whole(1, 100)(0)
    box_type = INVENTORY_IN_BOXES.column("box_type").rule
    unit_type = INVENTORY_IN_BOXES.column("unit_type").rule
    assert box_type(" hb ") is BoxType.HB
    assert unit_type("STEM") is UnitType.STEM
    with pytest.raises(rules.Reject, match=r"must be one of EB, QB, HB, FB \(got XB\)"):
        box_type("XB")


# -- headers --------------------------------------------------------------------------------------

def test_headers_are_matched_by_name_forgiving_case_and_spacing_not_by_position():
    header = ["customer_code", "INVOICE  #", "Invoice balance", "Customer PO", "invoice-date", "Notes"]
    match = match_header(OPEN_INVOICES, header, multi_location=False)
    assert match.ok
    assert match.positions == {"customer_code": 0, "invoice_no": 1, "balance": 2, "customer_po": 3,
                               "invoice_date": 4}
    assert fold(" Bunches / Box ") == fold("bunches/box")


def test_the_location_column_is_required_only_for_multi_location_companies():
    without = HEADER[:-1]
    assert match_header(OPEN_INVOICES, without, multi_location=False).ok
    assert [c.name for c in match_header(OPEN_INVOICES, without, multi_location=True).missing] == ["Location Code"]


def test_a_column_given_twice_is_a_problem_with_the_header():
    assert match_header(OPEN_INVOICES, [*HEADER, "Invoice Number"], multi_location=True).repeated == ["Invoice #"]


# -- rows -----------------------------------------------------------------------------------------

def test_a_good_invoice_row_is_accepted_with_the_codes_as_k2k_spells_them():
    values, message = check(["A-1", "rosebud", "2026-03-05", 10.5, "PO-1", "nyc"])
    assert message is None
    assert values == {"invoice_no": "A-1", "customer_code": "ROSEBUD", "invoice_date": date(2026, 3, 5),
                      "balance": D("10.500"), "customer_po": "PO-1", "location": "NYC"}


def test_each_broken_column_is_named_with_its_rule_in_one_message():
    assert rejected(["A" * 21, "NOBODY", "5/3/2026", 1.2345, "", "LAX"]) == (
        "Invoice #: at most 20 characters (got 21); Invoice Date: must be a date written YYYY-MM-DD (got 5/3/2026); "
        "Invoice Balance: at most 3 decimals (got 1.2345); Customer PO: required; "
        "Customer Code: no customer NOBODY in K2K; Location Code: LAX is not one of your locations (MIA, NYC)")


def test_a_single_location_company_may_leave_the_location_empty():
    values, _ = check(["A-1", "PETALS", "2026-03-05", 10, "PO-1", ""], context=SINGLE)
    assert values["location"] == "MIA"
    assert rejected(["A-1", "PETALS", "2026-03-05", 10, "PO-1", ""]) == (
        "Location Code: required for multi-location companies")


def test_the_second_row_with_an_invoice_number_is_the_duplicate():
    match = match_header(OPEN_INVOICES, HEADER, multi_location=True)
    validate = RowValidator(OPEN_INVOICES, match, BLOOM)
    assert validate(2, ["A-1", "PETALS", "2026-03-05", 10, "PO-1", "MIA"])[1] is None
    assert validate(3, ["A-1", "PETALS", "2026-03-06", 11, "PO-2", "MIA"])[1] == (
        "Invoice #: A-1 appears more than once in the file (first on row 2)")


def test_a_row_with_merged_cells_is_rejected_with_the_range_to_unmerge():
    merged = [Merged(first_row=1, first_col=0, last_row=1, last_col=2)]  # A2:C2
    assert rejected(["A-1", "", "", 10, "PO-1", "MIA"], merged=merged) == (
        "merged cells A2:C2: unmerge them and fill in each cell")


def test_an_open_credit_is_a_positive_balance_for_an_existing_customer():
    header = ["Credit #", "Customer Code", "Credit Date", "Credit Balance"]
    values, message = check(["CR-1", "PETALS", "2026-03-05", 80.5], context=SINGLE, header=header, spec=OPEN_CREDITS)
    assert message is None and values["balance"] == D("80.500") and values["location"] == "MIA"
    assert rejected(["CR-2", "PETALS", "2026-03-05", -1], context=SINGLE, header=header, spec=OPEN_CREDITS) == (
        "Credit Balance: must be more than 0 (got -1)")


def test_boxes_in_stems_need_stems_per_bunch_and_boxes_in_bunches_default_to_one():
    header = ["Vendor Code", "Ship Date", "Product", "Boxes", "Box Type", "Unit Type", "Bunches/Box", "Stems/Bunch",
              "Unit Cost"]
    farm = Context(["FARM"], vendors=["ECUAROSE"])
    bunch, message = check(["ecuarose", "2026-03-05", "Gypsophila", 3, "QB", "Bunch", 12, "", 1.1], context=farm,
                           header=header, spec=INVENTORY_IN_BOXES)
    assert message is None
    assert (bunch["vendor_code"], bunch["stems_per_bunch"], bunch["location"]) == ("ECUAROSE", 1, "FARM")
    assert rejected(["ECUAROSE", "2026-03-05", "Freedom", 3, "HB", "Stem", 10, "", 0.28], context=farm,
                    header=header, spec=INVENTORY_IN_BOXES) == "Stems/Bunch: required when the unit type is Stem"


# -- jobs, keys and the email ---------------------------------------------------------------------

def test_job_ids_sort_by_time_and_a_seed_gives_the_same_id():
    assert new_job_id("drop-1", at=1_700_000_000) == new_job_id("drop-1", at=1_700_000_000)
    assert new_job_id("drop-1", at=1_700_000_000) != new_job_id("drop-2", at=1_700_000_000)
    assert new_job_id(at=1_700_000_000) < new_job_id(at=1_700_000_001)
    assert len(box_code(new_job_id(), 1_048_576)) <= 20  # box codes are at most 20 characters


def test_the_drop_key_names_the_company_and_the_type():
    assert service.parse_key("imports/bloom/open-invoices/march.xlsx") == ("bloom", ImportType.OPEN_INVOICES,
                                                                           "march.xlsx")
    assert service.parse_key("imports/bloom/payroll/march.xlsx") is None
    assert service.parse_key("imports/../open-invoices/march.xlsx") is None
    assert service.parse_key("uploads/bloom/open-invoices/march.xlsx") is None


def test_an_upload_name_is_made_safe_for_a_key():
    assert service.safe_filename("../../March invoices (final).xlsx") == "March_invoices_final_.xlsx"


def test_the_email_gives_the_counts_and_the_link():
    job = Job(job_id="6b026eb52476", company_id="bloom", import_type=ImportType.OPEN_INVOICES,
              status=JobStatus.COMPLETED_WITH_ERRORS, filename="march.xlsx", key="k", imported=95, rejected=5,
              created_at=datetime(2026, 3, 5))
    job.progress.rows_total = 100
    subject, text = service.email_text(OPEN_INVOICES, job, "https://link")
    assert subject == "Open Invoices import completed with errors: 95 imported, 5 rejected"
    assert "Rows read: 100\nImported: 95\nRejected: 5" in text
    assert "https://link" in text
    job.status, job.failure_reason = JobStatus.FAILED, "the file is empty"
    subject, text = service.email_text(OPEN_INVOICES, job, None)
    assert subject == "Open Invoices import failed: march.xlsx"
    assert "Reason: the file is empty" in text


def test_validating_a_column_at_a_time_gives_the_same_verdicts_as_row_by_row():
    rows = [
        ["A-1", "PETALS", date(2026, 3, 5), 10.5, "PO-1", "MIA"],
        ["A-2", "petals", "2026-03-05", 0.1 + 0.2, " PO-2 ", "nyc"],  # forgiven case, float noise, spaces
        ["A-3", "PETALS", datetime(2026, 3, 5, 9), 10.1234, "PO-3", "LAX"],
        ["A-1", "PETALS", "2026-03-05", 7.0, "PO-4", "MIA"],  # duplicate
        [10021.0, "ROSEBUD", "2026-03-05", "12.5", "PO-5", "MIA"],  # a number as the invoice #, text balance
        ["A-6", "", "", "", "", ""],
        ["A-7", "PETALS", "2026-03-05", 5, "PO-7"],  # a short row
        ["A-8", "PETALS", "2026-02-30", -1.0, "P" * 21, None],
    ]
    match = match_header(OPEN_INVOICES, HEADER, multi_location=True)
    by_row = RowValidator(OPEN_INVOICES, match, BLOOM)
    by_column = RowValidator(OPEN_INVOICES, match, BLOOM)
    numbers = list(range(2, 2 + len(rows)))
    batch = [(by_column.as_dict(v) if v else v, m) for v, m in by_columns(by_column, numbers, rows)]
    assert batch == [by_row(n, r) for n, r in zip(numbers, rows, strict=True)]


def test_boxes_validated_a_column_at_a_time_agree_too():
    header = ["Vendor Code", "Ship Date", "Product", "Boxes", "Box Type", "Unit Type", "Bunches/Box",
              "Stems/Bunch", "Unit Cost", "Box Length", "Box Width", "Box Height"]
    farm = Context(["FARM"], vendors=["ECUAROSE"])
    rows = [
        ["ECUAROSE", "2026-03-05", "Freedom", 12.0, "HB", "Stem", 10.0, 25.0, 0.28, 40.0, 10.0, 10.0],
        ["ECUAROSE", "2026-03-05", "Gyp", 3.0, "qb", "Bunch", 12.0, "", 1.1, "", "", ""],
        ["ECUAROSE", "2026-03-05", "Freedom", 12.0, "HB", "Stem", 10.0, "", 0.28, 40.0, "", ""],
        ["OTHER", "2026-03-05", "Freedom", 2.5, "XB", "Stem", 10.0, 25.0, 0.28, "", "", ""],
    ]
    match = match_header(INVENTORY_IN_BOXES, header, multi_location=False)
    numbers = [2, 3, 4, 5]
    by_row = RowValidator(INVENTORY_IN_BOXES, match, farm)
    by_column = RowValidator(INVENTORY_IN_BOXES, match, farm)
    batch = [(by_column.as_dict(v) if v else v, m) for v, m in by_columns(by_column, numbers, rows)]
    assert batch == [by_row(n, r) for n, r in zip(numbers, rows, strict=True)]


def test_a_balance_read_a_column_at_a_time_is_the_balance_the_rule_reads():
    rule = OPEN_INVOICES.column("balance").rule
    values = [n / 1000 for n in range(1, 2_000_000, 7919)] + [0.1 + 0.2, 12.3456, 1e-4, -1.0, 0.0]
    fast = rule.column(values)
    for value, typed in zip(values, fast, strict=True):
        if typed is not rules.UNSURE:
            assert typed == rule(value), value


def test_every_column_check_types_a_cell_as_its_rule_does_or_leaves_it_to_the_rule():
    """The batch path's column checks (C loops over a whole column) are sure only where the rule agrees,
    value and spelling (Decimal places, the sign of a zero), whatever the mix of cells in the column."""
    import math
    import random

    rng = random.Random(13)
    odd = [0.0, -0.0, -1.0, math.nan, math.inf, -math.inf, 1e300, 1e-7, 0.1 + 0.2, 12.3456, 999999999.999,
           1e9, True, False, 7, "", "  ", " 12.5 ", "12.5", "abc", None, date(2026, 3, 5), datetime(2026, 3, 5),
           datetime(2026, 3, 5, 9), "2026-03-05", "2026-02-30", " HB ", "hb", "H B" + " " * 200, "A" * 21,
           " A-1 ", "A-1" + " " * 2000, "x\u00a0", 250.0, 0.5, 3.0]

    def sample(kind: str) -> list:
        if kind == "money":
            return [rng.randint(0, 10**12) / rng.choice([1, 10, 100, 1000, 10000]) for _ in range(300)]
        if kind == "whole":
            return [float(rng.randint(-5, 2_000_000)) for _ in range(300)]
        return [rng.choice(["A-1", "PO-7", "HB", "Stem", "2026-03-05", "x" * 20]) for _ in range(300)]

    rules_by_kind = {
        "money": [rules.amount(3, positive=True), rules.amount(3), rules.amount(2, positive=True, max_value=D("200"))],
        "whole": [rules.whole(1, 1_000_000), rules.whole(1, 1_000)],
        "text": [rules.text(20), rules.text(120), rules.ymd_date, rules.one_of({"EB": 1, "HB": 2, "Stem": 3})],
    }
    for kind, checks in rules_by_kind.items():
        for rule in checks:
            for mixed in (False, True):
                values = sample(kind) + (odd if mixed else [])
                rng.shuffle(values)
                for value, typed in zip(values, rule.column(tuple(values)), strict=True):
                    if typed is rules.UNSURE:
                        continue
                    expected = rule(value)
                    assert typed == expected and str(typed) == str(expected), (value, typed, expected)
    # and they are sure of the clean cells that fill real columns (or the batch path would be no faster)
    assert rules.amount(3, positive=True).column((1.5, 2.25, 107.919)) == [D("1.500"), D("2.250"), D("107.919")]
    assert rules.text(20).column(("A-1", "PO-7")) == ["A-1", "PO-7"]


def test_a_padded_cell_longer_than_the_cell_limit_is_refused_by_either_path():
    rows = [["A-1" + " " * 2000, "PETALS", "2026-03-05", 10.0, "PO-1", "MIA"],
            ["A-2", "petals ", "2026-03-05", 10.0, "PO-1", "nyc"],  # codes forgiven on the row path
            ["A-3", "PETALS", "2026-03-05", 10.0, "PO-1", "MIA"]]
    match = match_header(OPEN_INVOICES, HEADER, multi_location=True)
    by_row, by_column = RowValidator(OPEN_INVOICES, match, BLOOM), RowValidator(OPEN_INVOICES, match, BLOOM)
    numbers = [2, 3, 4]
    batch = [(by_column.as_dict(v) if v else v, m) for v, m in by_columns(by_column, numbers, rows)]
    assert batch == [by_row(n, r) for n, r in zip(numbers, rows, strict=True)]
    assert batch[0] == (None, "Invoice #: at most 1,024 characters in a cell (got 2,003)")
    assert batch[1][0]["customer_code"] == "PETALS" and batch[1][0]["location"] == "NYC"
