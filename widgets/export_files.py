"""The activity export's two files: a plain CSV and one for Excel, both safe to open in a spreadsheet.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula
to Excel, LibreOffice and Google Sheets; a customer's name such as
`=HYPERLINK("http://evil.example","y")` would run when support opens the export.
Following OWASP's CSV injection guidance, such a cell gets a leading `'`, which
spreadsheets take as "this is text" and do not show. Phone numbers start with `+`:
the same quote makes Excel show `+49 30 5000001` as written, not a formula and not
the number 49305000001.

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
from typing import Any, Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_MARKER = "'"
UTF8_BOM = "\ufeff"


def safe_cell(value: Any) -> str:
    """Return a cell's text that no spreadsheet runs as a formula (None is an empty cell)."""
    if value is None:
        return ""
    text = str(value)
    return TEXT_MARKER + text if text.startswith(FORMULA_STARTS) else text


def minutes_and_seconds(seconds: int | None) -> str | None:
    """Return a duration as m:ss (62:05 for 3725 s); None when there is none."""
    if seconds is None:
        return None
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]], for_excel: bool = False) -> str:
    """Return the rows as RFC 4180 CSV text, every cell made safe; for Excel, with a byte order mark."""
    buffer = io.StringIO()
    if for_excel:
        buffer.write(UTF8_BOM)
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([safe_cell(name) for name in header])
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
    return buffer.getvalue()
