"""Self-contained HTML building blocks: figures as inline PNG, tables, pages, a result mixin."""
from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlprod.io.files import atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#222}
table.mlprod{border-collapse:collapse;font-size:0.9em;margin:0.5em 0}
table.mlprod th,table.mlprod td{border:1px solid #ccc;padding:3px 8px;text-align:right}
table.mlprod th{background:#f3f3f3}
.mlprod-bad{background:#fde2e1}.mlprod-warn{background:#fff4ce}.mlprod-ok{background:#e6f4ea}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.2em}
"""


def figure_html(fig: "Figure", *, dpi: int = 90, close: bool = True) -> str:
    """Render a matplotlib figure as an ``<img>`` with an inline base64 PNG.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots(); _ = ax.plot([1, 2])
        >>> figure_html(fig).startswith("<img")
        True
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}"/>'


def table_html(df: "pd.DataFrame", *, row_class: "Iterable[str] | None" = None,
               float_format: str = "{:.4g}") -> str:
    """Render a DataFrame as a compact HTML table; ``row_class`` colours rows (e.g. ``mlprod-bad``).

    Example:
        >>> import pandas as pd
        >>> "mlprod-bad" in table_html(pd.DataFrame({"x": [1.0]}), row_class=["mlprod-bad"])
        True
    """
    classes = list(row_class) if row_class is not None else [""] * len(df)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for cls, (_, r) in zip(classes, df.iterrows(), strict=True):
        cells = "".join(f"<td>{html.escape(_fmt(v, float_format))}</td>" for v in r.tolist())
        rows.append(f'<tr class="{cls}">{cells}</tr>')
    return f'<table class="mlprod"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _fmt(v: Any, float_format: str) -> str:
    if isinstance(v, float):
        return float_format.format(v)
    return "" if v is None else str(v)


def html_page(title: str, sections: "Iterable[tuple[str, str]]", *, full: bool = True) -> str:
    """Assemble a titled page from ``(heading, html)`` sections; ``full=False`` gives a fragment.

    Example:
        >>> "<h2>A</h2>" in html_page("T", [("A", "<p>x</p>")], full=False)
        True
    """
    body = f"<h1>{html.escape(title)}</h1>" + "".join(
        f"<h2>{html.escape(h)}</h2>{content}" for h, content in sections)
    if not full:
        # a fragment lives inside someone else's page (Jupyter, the docs site): style only itself
        css = _CSS.replace("body{", ".mlprod-report{")
        return f'<div class="mlprod-report"><style>{css}</style>{body}</div>'
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head><body>{body}</body></html>")


def save_html(page: str, path: "str | Path") -> Path:
    """Write an HTML page atomically (temp file, then rename) and return its path.

    Example:
        >>> import tempfile, os
        >>> p = save_html("<html></html>", os.path.join(tempfile.mkdtemp(), "r.html"))
        >>> p.read_text()
        '<html></html>'
    """
    return atomic_write_text(path, page)


class HtmlResult:
    """The result protocol every mlprod result follows (subclasses implement ``to_html``).

    - ``.table``: the main DataFrame (an attribute or property of the subclass);
    - ``.to_html(full=True)``: a self-contained page (``full=False``: a fragment);
    - ``_repr_html_`` / ``show()``: rich display in notebooks;
    - ``.plot()``: where there is something to plot, the matplotlib Axes it drew on (``ax=`` to
      draw into yours); ``SearchResult.plot()``, two panels, returns its Figure;
    - ``.save(output_dir)``: writes ``table.csv`` and ``report.html`` (subclasses add their own
      files) and returns ``{name: path}``; ``save_html(path)`` writes the page alone.

    ``tests/test_results.py`` checks every public result against this protocol.
    """

    def to_html(self, full: bool = True) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self.to_html(full=False)

    def show(self) -> None:
        """Display in Jupyter (falls back to printing ``repr`` outside IPython)."""
        try:
            from IPython.display import HTML, display

            display(HTML(self.to_html(full=False)))
        except ImportError:  # pragma: no cover
            print(repr(self))

    def save_html(self, path: "str | Path") -> Path:
        """Write the full HTML report to ``path`` (atomically) and return the path."""
        return save_html(self.to_html(full=True), path)

    def save(self, output_dir: "str | Path") -> "dict[str, Path]":
        """Write ``table.csv`` and ``report.html`` under ``output_dir``; returns ``{name: path}``."""
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        table = getattr(self, "table", None)
        written: dict[str, Path] = {}
        if table is not None:
            written["table"] = atomic_write_text(out / "table.csv", table.to_csv(index=False))
        written["report"] = self.save_html(out / "report.html")
        return written
