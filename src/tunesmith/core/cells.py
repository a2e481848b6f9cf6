"""Cells of the tables tunesmith writes for other programs to open: CSV for spreadsheets and
Markdown for CI summaries and GitHub.

A spreadsheet runs a CSV cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (OWASP, "CSV Injection"), and a tune's title or a file's name can start so
(``T:=HYPERLINK(...)``, ``=bad.abc``). `csv_cell` prefixes such a text cell with ``'``, which a
spreadsheet shows as text; `csv_value` takes the prefix off again, so tunesmith reads back exactly
what it wrote (a text that itself starts with ``'`` and a formula character gets a second ``'``).
Numbers stay numbers: ``-0.5`` is neither prefixed nor changed, as a number or as text.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet reads as the start of a formula."""
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def csv_cell(value: Any) -> Any:
    """``value`` as a CSV cell a spreadsheet shows as text: a ``str`` starting with a formula
    character (or with ``'`` and one) gets ``'`` in front; numbers and other values are returned as
    they are."""
    if not isinstance(value, str) or not value or _NUMBER.fullmatch(value):
        return value
    if value.startswith(FORMULA_START) or (value[0] == "'" and value[1:2] and value[1] in "'=+-@\t\r"):
        return "'" + value
    return value


def csv_value(value: Any) -> Any:
    """The value `csv_cell` was given: one leading ``'`` taken off where it added one."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1] in "'=+-@\t\r":
        return value[1:]
    return value


def csv_frame(frame: Any) -> Any:
    """A copy of a pandas DataFrame with `csv_cell` applied to every text cell (columns of
    numbers untouched)."""
    from pandas.api.types import is_numeric_dtype

    frame = frame.copy()
    for column in frame.columns:
        if not is_numeric_dtype(frame[column]):  # text (object or str) columns, and mixed ones
            frame[column] = frame[column].map(csv_cell)
    frame.columns = [csv_cell(c) for c in frame.columns]
    return frame


def write_frame(frame: Any, path: Any) -> None:
    """Write a pandas DataFrame to ``path`` as CSV (no index, ``\\n`` line ends), every text cell
    through `csv_cell`. Python's csv module before 3.12 leaves a carriage return inside a cell
    unquoted, which a spreadsheet takes as the end of a row (and the rest as a new cell that may
    be a formula): a table holding one has every text cell quoted."""
    import csv

    frame = csv_frame(frame)
    carriage_return = any(isinstance(v, str) and "\r" in v for column in frame.columns
                          for v in frame[column].tolist()) or any("\r" in str(c) for c in frame.columns)
    frame.to_csv(path, index=False, lineterminator="\n",
                 quoting=csv.QUOTE_NONNUMERIC if carriage_return else csv.QUOTE_MINIMAL)


def read_frame(frame: Any) -> Any:
    """A DataFrame read from a CSV tunesmith wrote, with `csv_value` applied to every text cell."""
    from pandas.api.types import is_numeric_dtype

    for column in frame.columns:
        if not is_numeric_dtype(frame[column]):
            frame[column] = frame[column].map(csv_value)
    frame.columns = [csv_value(c) for c in frame.columns]
    return frame


_MARKDOWN = str.maketrans({"|": "\\|", "`": "\\`", "<": "&lt;", ">": "&gt;", "\n": " ", "\r": " ",
                           "\\": "\\\\"})


def markdown_cell(value: Any) -> str:
    """``value`` as the text of one Markdown table cell: ``|`` cannot end the cell, a newline the
    row, a backtick open code, ``<`` a tag (HTML is allowed in GitHub's Markdown)."""
    return str(value).translate(_MARKDOWN)
