"""Prometheus alert rules for the model server's metrics, shipped with mlprod.

The rules in :data:`RULES_FILE` fire on the server's own metrics (``mlprod_serving_requests_total``
by ``code``, the latency histogram, dropped request-log records) over every replica Prometheus
scrapes, and Alertmanager routes them (one server's own view of its error rate is
:mod:`mlprod.alerts.rate`).
``mlprod alerts rules --out mlprod_rules.yml`` writes them for ``rule_files:``.

Example:
    >>> "MlprodServingErrorRateHigh" in rules()
    True
"""
from __future__ import annotations

import os
from pathlib import Path

RULES_FILE = Path(__file__).with_name("prometheus_rules.yml")


def rules(out: "str | os.PathLike[str] | None" = None) -> str:
    """The rule file's text; with ``out``, also written there (its folder made).

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "rules", "mlprod.yml")
        >>> text = rules(path)
        >>> open(path).read() == text
        True
    """
    text = RULES_FILE.read_text()
    if out is not None:
        from mlprod.io.files import atomic_write_text

        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        atomic_write_text(Path(out), text)
    return text
