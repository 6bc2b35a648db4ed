"""The activity export's two files: a plain CSV and one for Excel, both safe to open in a spreadsheet.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula
to Excel, LibreOffice and Google Sheets; a customer's name such as
`=HYPERLINK("http://evil.example","y")` would run when support opens the export.
Following OWASP's CSV injection guidance, such a cell gets a leading `'`, which
spreadsheets take as "this is text" and do not show. Both files do this: people
double-click any .csv, so the plain file meets a spreadsheet too.

Phone numbers start with `+`. In the Excel file the same quote makes Excel show
`+49 30 5000001` as written, not a formula and not the number 49305000001. The
plain CSV is the file for other programs (imports, scripts, a CRM), where a quote
is part of the value and corrupts the number; there a cell that is only a number
(`+` then digits, spaces and masked digits, nothing a formula could call) is
written as it is: a spreadsheet shows it as a number at worst, and runs nothing.

Python's csv module writes RFC 4180: records end in CRLF, and every field holding
CR, LF, a quote or the separator is quoted, so a name holding a lone CR cannot
start a row of its own.

The Excel file is UTF-8 with a byte order mark (without one, Excel on Windows reads
"Müller" as "MÃ¼ller"), names the timezone of its times in the header, and adds the
agent, and the duration as m:ss beside the seconds.
"""
from __future__ import annotations

import csv
import io
import re
from typing import Any, Iterable, Sequence

from access.roles import MASK

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_MARKER = "'"
UTF8_BOM = "\ufeff"
# A phone number as the plain file holds it: stored (+4930…), or masked for support (+•••••••456, access/roles.py).
PLAIN_NUMBER = re.compile(rf"\+[0-9{MASK}][0-9 {MASK}]*")


def safe_cell(value: Any, numbers_as_they_are: bool = False) -> str:
    """Return a cell's text that no spreadsheet runs as a formula (None is an empty cell); with
    `numbers_as_they_are`, a cell that is only a phone number stays as it is (the plain file)."""
    if value is None:
        return ""
    text = str(value)
    if numbers_as_they_are and PLAIN_NUMBER.fullmatch(text):
        return text
    return TEXT_MARKER + text if text.startswith(FORMULA_STARTS) else text


def minutes_and_seconds(seconds: int | None) -> str | None:
    """Return a duration as m:ss (62:05 for 3725 s); None when there is none."""
    if seconds is None:
        return None
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]], for_excel: bool = False) -> str:
    """Return the rows as RFC 4180 CSV text, every cell made safe; for Excel, with a byte order mark and phone
    numbers marked as text, else with phone numbers as they are."""
    buffer = io.StringIO()
    if for_excel:
        buffer.write(UTF8_BOM)
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([safe_cell(name) for name in header])
    for row in rows:
        writer.writerow([safe_cell(value, numbers_as_they_are=not for_excel) for value in row])
    return buffer.getvalue()
