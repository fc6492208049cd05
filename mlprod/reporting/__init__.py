"""Shared, offline rendering for results people look at (one place, not one per capability).

Everything renders to self-contained HTML: figures are inlined as base64 PNG, tables are
plain HTML, there is no JavaScript and nothing is fetched from a CDN, so reports display
in Jupyter, in a CI artifact or in a browser without network access.

Example:
    >>> from mlprod.reporting import html_page, table_html
    >>> import pandas as pd
    >>> page = html_page("Report", [("Numbers", table_html(pd.DataFrame({"a": [1]})))])
    >>> "<table" in page and "http" not in page
    True
"""
from __future__ import annotations

from mlprod.reporting.html import (
    HtmlResult,
    figure_html,
    html_page,
    save_html,
    table_html,
)

__all__ = ["HtmlResult", "figure_html", "html_page", "save_html", "table_html"]
