"""What an uploaded file must be before anything parses it, and the limits that keep a worker alive.

Nothing here trusts a file name or a zip header: the kind of file is read from
its first bytes, sizes are counted while decompressing, and XML that declares a
DTD (the door to entity-expansion attacks) is refused outright, since Excel
never writes one.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Every limit an import enforces; the defaults are documented in docs/data-import.md."""

    file_bytes: int = 64 * MiB  # the upload itself (a 1,048,576-row, 6-column sheet is about 40 MiB)
    xls_bytes: int = 32 * MiB  # BIFF8 files cannot hold more than 65,536 rows anyway
    xls_cells: int = 2_000_000  # rows x columns the .xls grid may span (calamine builds it whole)
    uncompressed_bytes: int = 1024 * MiB  # all parts of an .xlsx, counted while inflating
    compression_ratio: int = 100  # per part over 1 MiB; real sheets compress 5-20x, zip bombs 1000x
    zip_entries: int = 1_000
    xml_part_bytes: int = 8 * MiB  # workbook.xml, rels, content types: parsed in memory
    rows: int = 1_048_576  # Excel's own maximum, header included
    columns: int = 100  # A:CV; an import needs at most 15
    cell_chars: int = 1_024  # a longer value in a column we read rejects its row
    band_rows: int = 65_536  # rows handed to the native reader at a time (bounds its memory)
    band_cells: int = 1_048_576  # and cells: a band reaching past column P (cells / rows) is cut at 10,485 rows
    merged_ranges: int = 10_000


class FileRejected(Exception):
    """The file as a whole cannot be imported; `reason` is what the uploader reads."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Kind(StrEnum):
    XLSX = "xlsx"
    XLS = "xls"


OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
OTHER_MAINS = {
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml":
        "it is a macro-enabled workbook (.xlsm); save it as an Excel Workbook (.xlsx) without macros",
    "application/vnd.ms-excel.template.macroEnabled.main+xml":
        "it is a macro-enabled template (.xltm); save it as an Excel Workbook (.xlsx)",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml":
        "it is an Excel template (.xltx); save it as an Excel Workbook (.xlsx)",
    "application/vnd.ms-excel.sheet.binary.macroEnabled.main":
        "it is an Excel binary workbook (.xlsb); save it as an Excel Workbook (.xlsx)",
    "application/vnd.ms-excel.addin.macroEnabled.main+xml": "it is an Excel add-in (.xlam), not a workbook",
}
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)")  # XML keywords are upper case; any other spelling is not XML


def _declares_dtd(data: bytes) -> bool:
    # Plain byte searches, the fastest scans Python has; "!" (one memchr) is rare in a sheet, and both
    # declarations hold it, so a clean chunk costs one pass, not two.
    return b"!" in data and (b"<!DOCTYPE" in data or b"<!ENTITY" in data)


def extension(filename: str) -> str:
    return Path(filename).suffix.lower().lstrip(".")


def sniff(head: bytes, filename: str) -> Kind:
    """The kind of workbook, from its first bytes, and only if its name says the same."""
    ext = extension(filename)
    if ext not in ("xlsx", "xls"):
        raise FileRejected(f"only .xlsx and .xls files are imported; {filename!r} is a .{ext or '(no extension)'} file"
                           if ext else f"only .xlsx and .xls files are imported; {filename!r} has no extension")
    if not head:
        raise FileRejected("the file is empty")
    if head.startswith(ZIP_MAGIC):
        kind = Kind.XLSX
    elif head.startswith(OLE_MAGIC):
        kind = Kind.XLS
    else:
        raise FileRejected(f"{filename!r} is not an Excel workbook: {_describe(head)}; "
                           "open it in Excel and save it as an Excel Workbook (.xlsx)")
    if kind.value != ext:
        raise FileRejected(f"{filename!r} is named .{ext} but is an .{kind.value} file inside; "
                           f"save it again as .xlsx (or give it its real extension)")
    return kind


def _describe(head: bytes) -> str:
    text = head[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<html", b"<!doctype html", b"<table")):
        return "it is a web page (HTML) saved with an Excel extension"
    if text.startswith(b"<?xml"):
        return "it is an XML file (perhaps an XML Spreadsheet 2003)"
    if head.startswith(b"%PDF"):
        return "it is a PDF"
    try:
        head[:512].decode("utf-8")
    except UnicodeDecodeError:
        return "its content is not a spreadsheet"
    return "it is a text (CSV) file"


def ole_problem(data: bytes) -> str | None:
    """Why an OLE2 compound file is not an importable .xls, from its directory entry names."""
    def has(name: str) -> bool:
        return name.encode("utf-16-le") in data

    if has("EncryptedPackage") or has("EncryptionInfo"):
        return "the workbook is password-protected; remove the password and upload it again"
    if has("_VBA_PROJECT_CUR") or has("_VBA_PROJECT"):
        return "the workbook contains macros; save it as an Excel Workbook (.xlsx) without macros"
    if not (has("Workbook") or has("Book")):
        if has("WordDocument"):
            return "it is a Word document, not an Excel workbook"
        return "it is not an Excel workbook"
    return None


def check_zip(archive: zipfile.ZipFile, limits: Limits) -> None:
    """Zip-level checks from the central directory; actual sizes are enforced again while inflating."""
    infos = archive.infolist()
    if len(infos) > limits.zip_entries:
        raise FileRejected(f"the workbook has {len(infos):,} parts; at most {limits.zip_entries:,}")
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise FileRejected("the workbook is password-protected; remove the password and upload it again")
        total += info.file_size
        if info.file_size > MiB and info.file_size > limits.compression_ratio * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            raise FileRejected(f"the part {info.filename} expands {ratio:,} times (at most "
                               f"{limits.compression_ratio} times): this looks like a zip bomb")
        if info.filename.lower().endswith("vbaproject.bin"):
            raise FileRejected("the workbook contains macros; save it as an Excel Workbook (.xlsx) without macros")
    if total > limits.uncompressed_bytes:
        raise FileRejected(f"the workbook unpacks to {total // MiB:,} MiB; at most "
                           f"{limits.uncompressed_bytes // MiB:,} MiB")


class Budget:
    """Bytes an .xlsx may inflate to, counted as they are read (zip headers can lie)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.left = limits.uncompressed_bytes

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise FileRejected(f"the workbook unpacks to more than {self.limits.uncompressed_bytes // MiB:,} MiB")


def read_part(archive: zipfile.ZipFile, name: str, limits: Limits, budget: Budget) -> bytes:
    """A small XML part, whole, size-capped and DTD-free."""
    with archive.open(name) as f:
        data = f.read(limits.xml_part_bytes + 1)
    if len(data) > limits.xml_part_bytes:
        raise FileRejected(f"the part {name} is larger than {limits.xml_part_bytes // MiB} MiB")
    budget.take(len(data))
    if _DTD.search(data):
        raise FileRejected(f"the part {name} declares an XML DTD or entities, which Excel never writes; refused")
    return data


def parse_xml(data: bytes, name: str) -> SafeET.Element:
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise FileRejected(f"the part {name} declares an XML DTD or entities, which Excel never writes; "
                           "refused") from None
    except SafeET.ParseError as e:
        raise FileRejected(f"the workbook is damaged: {name} is not valid XML ({e})") from None


def stream_part(source: IO[bytes], name: str, budget: Budget, chunk: int = 4 * MiB):
    """Inflate a large part in chunks, counting its real size and refusing any DTD on the way."""
    tail = b""
    while True:
        data = source.read(chunk)
        if not data:
            return
        budget.take(len(data))
        if _declares_dtd(tail + data[:64]) or _declares_dtd(data):
            raise FileRejected(f"the part {name} declares an XML DTD or entities, which Excel never writes; refused")
        tail = data[-16:]
        yield data
