"""Reading workbooks safely, with no AWS: kinds, limits, bands, the .xls guard, and formula-safe results."""

import struct
import zipfile
from datetime import date

import pytest
from openpyxl import load_workbook
from python_calamine import CalamineWorkbook

from k2k.imports.reader import open_sheet, xls_extent
from k2k.imports.results import neutralize, write_results
from k2k.imports.safety import FileRejected, Kind, Limits, sniff
from tests.fixtures.imports import workbooks as wb

H = wb.INVOICE_HEADER


def read(tmp_path, data, name="march.xlsx", limits=None):
    path = tmp_path / "upload"
    path.write_bytes(data)
    sheet = open_sheet(path, name, tmp_path, ("Open Invoices",), limits)
    try:
        return sheet, list(sheet.rows())
    finally:
        sheet.close()


def test_the_kind_of_file_comes_from_its_bytes_and_must_match_its_name():
    assert sniff(b"PK\x03\x04rest", "march.xlsx") is Kind.XLSX
    assert sniff(wb.OLE_HEADER, "march.XLS") is Kind.XLS
    with pytest.raises(FileRejected, match=r"named \.xls but is an \.xlsx file inside"):
        sniff(b"PK\x03\x04rest", "march.xls")
    with pytest.raises(FileRejected, match="PDF"):
        sniff(b"%PDF-1.7", "march.xlsx")


def test_rows_come_with_their_sheet_row_numbers_and_blank_rows_are_skipped(tmp_path):
    sheet, rows = read(tmp_path, wb.workbook([H, ["A-1", "PETALS"], [], [None, None, date(2026, 3, 5)]]))
    assert sheet.name == "Open Invoices"
    assert [r for r, _ in rows] == [1, 2, 4]
    assert rows[2][1][:3] == ["", "", date(2026, 3, 5)]  # columns stay where the header says, even if A is empty


def test_a_large_sheet_is_read_in_bands_that_keep_every_row_and_its_number(tmp_path):
    data = wb.workbook([H, *[[f"A-{i}", "PETALS", "2026-03-05", i, "PO", "MIA"] for i in range(1, 251)]])
    sheet, rows = read(tmp_path, data, limits=Limits(band_rows=64))
    with zipfile.ZipFile(tmp_path / "normalized.xlsx") as z:
        assert len([n for n in z.namelist() if n.startswith("xl/worksheets/")]) == 4
    assert [r for r, _ in rows] == list(range(1, 252))
    assert rows[-1][1][0] == "A-250"
    assert sheet.rows_total == 251


def test_a_band_whose_cells_reach_past_the_narrow_columns_holds_fewer_rows(tmp_path):
    # calamine's grid is rows x columns: a band of band_rows rows as wide as the column limit would hold
    # band_rows x columns cells. Here a narrow band is A:D (band_cells // band_rows) and 64 rows; a band
    # with a cell further right holds band_cells // columns = 12 rows.
    limits = Limits(band_rows=64, band_cells=256, columns=20)
    narrow = [[f"A-{i}", "PETALS", i] for i in range(2, 101)]
    wide = [[f"A-{i}", "PETALS", i, None, None, None, None, None, None, "far"] for i in range(101, 131)]
    sheet, rows = read(tmp_path, wb.workbook([H[:3], *narrow, *wide, *narrow[:5]]), limits=limits)
    assert [r for r, _ in rows] == list(range(1, 136))
    assert [cells[9:] for r, cells in rows if r in (100, 101, 130)] == [[], ["far"], ["far"]]
    assert sheet.rows_total == 135
    book = CalamineWorkbook.from_path(str(tmp_path / "normalized.xlsx"))
    try:
        grids = []
        for name in book.sheet_names:
            band = book.get_sheet_by_name(name)
            (top, _), (bottom, right) = band.start, band.end
            grids.append((bottom - top + 1, right + 1))
    finally:
        book.close()
    assert all(height * width <= 2 * limits.band_cells for height, width in grids), grids
    assert all(height <= 12 for height, width in grids if width > 4), grids
    assert grids[0] == (64, 3)  # narrow rows fill a band of band_rows
    assert sum(height for height, _ in grids) == 135


MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


@pytest.mark.parametrize(("extra", "reason"), [
    # calamine places a cell by its local name: <x:c> under any prefix is a cell too
    (f'<row r="3"><x:c xmlns:x="{MAIN_NS}" r="CV1048000"><x:v>1</x:v></x:c></row>', "more than one XML prefix"),
    ('<row r="3"><c r="A3"><v>1</v></c><c r="B999999"><v>1</v></c></row>', "rows are not in order"),
    ('<row r="3"><c r="A3"><v>1</v></c><c r="CW3"><v>1</v></c></row>', "uses cell CW3; at most 100 columns"),
    ('<row r="3"><c r="A3"><v>1</v></c><c><v>1</v></c></row>', "cells without a position"),
    ('<row r="3"><c s="1" r="A3"><v>1</v></c></row>', "cells without a position"),
    ('<row r="3"><c r="A12345678901"><v>1</v></c></row>', "past Excel's last row"),
])
def test_a_cell_that_would_stretch_calamines_grid_is_refused_before_calamine_reads_it(tmp_path, extra, reason):
    data = wb.raw_xlsx(wb.sheet_xml([H, ["A-1"]]).replace("</sheetData>", extra + "</sheetData>"))
    with pytest.raises(FileRejected, match=reason):
        read(tmp_path, data)


def test_what_calamine_reads_as_an_ordinary_sheet_is_read(tmp_path):
    odd = ('<row r="3"><c r="A03" t="inlineStr"><is><t>A-3</t></is></c></row>'  # a leading zero: row 3
           '<row r="4"><c r="A4" t="inlineStr"><is><r><rPr><color rgb="FF0000"/><charset val="0"/></rPr>'
           '<t>A-4 note:c x</t></r></is></c></row>')  # rich text, and ":c " in a cell's text
    _, rows = read(tmp_path, wb.raw_xlsx(wb.sheet_xml([H, ["A-1"]]).replace("</sheetData>", odd + "</sheetData>")))
    assert [(r, cells[0]) for r, cells in rows[1:]] == [(2, "A-1"), (3, "A-3"), (4, "A-4 note:c x")]


def test_a_sheet_written_under_a_namespace_prefix_is_read_and_one_that_mixes_prefixes_is_not(tmp_path):
    plain = wb.sheet_xml([H, ["A-1", "PETALS"], ["A-2"]])
    prefixed = (plain.replace("<worksheet xmlns=", "<x:worksheet xmlns:x=").replace("</worksheet>", "</x:worksheet>")
                .replace("<sheetData>", "<x:sheetData>").replace("</sheetData>", "</x:sheetData>")
                .replace("<row ", "<x:row ").replace("</row>", "</x:row>").replace("<c ", "<x:c ")
                .replace("</c>", "</x:c>").replace("<is>", "<x:is>").replace("</is>", "</x:is>")
                .replace("<t ", "<x:t ").replace("</t>", "</x:t>"))
    _, rows = read(tmp_path, wb.raw_xlsx(prefixed))
    assert [(r, cells[0]) for r, cells in rows] == [(1, "Invoice #"), (2, "A-1"), (3, "A-2")]
    mixed = prefixed.replace("</x:sheetData>", '<x:row r="4"><c r="CV900000"><v>1</v></c></x:row></x:sheetData>')
    with pytest.raises(FileRejected, match="more than one XML prefix"):
        read(tmp_path, wb.raw_xlsx(mixed))


def test_the_sheet_named_like_the_import_type_is_read_even_when_it_is_not_first(tmp_path):
    sheet, rows = read(tmp_path, wb.workbook([H, ["A-1"]], sheet="open invoices", before=("Notes",)))
    assert sheet.name == "open invoices" and rows[1][1][0] == "A-1"


def test_a_file_over_the_size_limit_is_refused_before_it_is_opened(tmp_path):
    with pytest.raises(FileRejected, match="at most 0 MiB"):
        read(tmp_path, wb.workbook([H]), limits=Limits(file_bytes=100))


def test_a_workbook_that_unpacks_to_more_than_the_limit_is_refused_while_inflating(tmp_path):
    data = wb.raw_xlsx(wb.sheet_xml([H, *[["A" * 100] for _ in range(20_000)]]))
    with pytest.raises(FileRejected, match="unpacks to 3 MiB; at most 1 MiB"):
        read(tmp_path, data, limits=Limits(uncompressed_bytes=1024 * 1024))  # as the zip directory says


def test_a_zip_that_lies_about_its_sizes_is_caught_while_inflating(tmp_path):
    data = bytearray(wb.raw_xlsx(wb.sheet_xml([H, *[["A" * 100] for _ in range(2_000)]])))
    name = b"xl/worksheets/sheet1.xml"
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local and central headers
        at = data.find(signature + data[data.find(signature) + 4:data.find(signature) + 4], 0)
        while at >= 0:
            if data[at:].find(name) in (30, 46):
                struct.pack_into("<I", data, at + size_at, 100)  # "this part inflates to 100 bytes"
            at = data.find(signature, at + 4)
    with pytest.raises(FileRejected, match="damaged"):
        read(tmp_path, bytes(data))


def test_merged_ranges_are_reported_with_the_sheet(tmp_path):
    sheet, _ = read(tmp_path, wb.workbook([H, ["A-1"]], merged=("A2:C2",)))
    assert [m.ref for m in sheet.merged] == ["A2:C2"]


def test_an_xls_grid_is_measured_from_its_records_before_it_is_built():
    assert xls_extent(wb.xls([H, ["A-1", "PETALS"]])) == (2, 6)
    assert xls_extent(wb.xls([H], far_cell=(65535, 255))) == (65536, 256)


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@A1", "\tx", "\rx"])
def test_text_that_would_be_a_formula_is_written_as_text(text):
    assert neutralize(text) == "'" + text
    assert neutralize("PO-1") == "PO-1"
    assert neutralize(-5) == -5  # a number is never a formula


def test_the_results_workbook_keeps_the_original_columns_and_adds_row_and_message(tmp_path):
    path = tmp_path / "results.xlsx"
    assert write_results(path, "Open Invoices", H, [(5, ["=1+1", "NOBODY"], "Customer Code: no customer")]) == 1
    sheet = load_workbook(path).worksheets[0]
    assert [c.value for c in sheet[1]] == [*H, "Row", "Message"]
    assert [c.value for c in sheet[2]] == ["'=1+1", "NOBODY", None, None, None, None, 5, "Customer Code: no customer"]
    assert sheet["A2"].data_type == "s"
