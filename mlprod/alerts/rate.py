"""``server_errors`` from the server's own counters: the share of failed requests per model.

:class:`ErrorRate` reads the cumulative ``mlprod_serving_requests_total{model,api,code}`` counts
every ``interval`` seconds and emits one ``server_errors`` event when a model's share of server
errors (HTTP 5xx, gRPC INTERNAL / UNAVAILABLE / UNKNOWN / DEADLINE_EXCEEDED) over the last
interval rises above ``max_rate`` (at least ``min_requests`` requests): one event per incident,
the next only after the rate fell back below. A running :class:`~mlprod.serving.Server` starts
this watch when alerts are configured; the same threshold is the Prometheus rule
``MlprodServingErrorRateHigh`` (which sees every replica at once).

Example:
    >>> w = ErrorRate(max_rate=0.05, min_requests=10)
    >>> w.observe({("penguin", "200"): 100}, now=0.0)
    []
    >>> [e.details["error_rate"] for e in w.observe({("penguin", "200"): 150, ("penguin", "500"): 10}, now=60.0)]
    [0.1667]
    >>> w.observe({("penguin", "200"): 190, ("penguin", "500"): 20}, now=120.0)   # the same incident: no repeat
    []
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mlprod.alerts.events import SERVER_ERRORS, Event

SERVER_ERROR_CODES = re.compile(r"5\d\d|INTERNAL|UNAVAILABLE|UNKNOWN|DEADLINE_EXCEEDED")
COUNTER = "mlprod_serving_requests"
INTERVAL_S = 60.0


def request_counts(registry: Any) -> dict[tuple[str, str], float]:
    """(model, code) -> requests answered so far, summed over APIs, from a Prometheus registry.

    Example:
        >>> from prometheus_client import CollectorRegistry, Counter
        >>> reg = CollectorRegistry()
        >>> c = Counter(COUNTER, "Requests answered", ["model", "api", "code"], registry=reg)
        >>> c.labels("penguin", "predict", "200").inc(3); c.labels("penguin", "classify", "200").inc()
        >>> request_counts(reg)
        {('penguin', '200'): 4.0}
    """
    out: dict[tuple[str, str], float] = {}
    for family in registry.collect():
        if family.name != COUNTER:
            continue
        for s in family.samples:
            if s.name.endswith("_total"):
                key = (str(s.labels.get("model", "")), str(s.labels.get("code", "")))
                out[key] = out.get(key, 0.0) + float(s.value)
    return out


class ErrorRate:
    """Server-error share per model between two readings of the request counters (see module doc).

    Args:
        max_rate: the share of server errors above which an incident starts (default 0.05,
            as the Prometheus rule).
        min_requests: fewer requests in an interval say nothing (default 20).
    """

    def __init__(self, max_rate: float = 0.05, min_requests: int = 20) -> None:
        self.max_rate, self.min_requests = max_rate, min_requests
        self._last: dict[tuple[str, str], float] | None = None
        self._last_t = 0.0
        self._firing: dict[str, float] = {}

    def observe(self, counts: Mapping[tuple[str, str], float], now: float) -> list[Event]:
        """Take a reading of the cumulative counts at ``now``; return the events of incidents that start."""
        last, since = self._last, self._last_t
        self._last, self._last_t = dict(counts), now
        if last is None:
            return []
        per_model: dict[str, dict[str, float]] = {}
        for (model, code), n in counts.items():
            delta = n - last.get((model, code), 0.0)
            if delta > 0:
                per_model.setdefault(model, {})[code] = delta
        out = []
        for model, codes in sorted(per_model.items()):
            total = sum(codes.values())
            errors = {c: int(n) for c, n in codes.items() if SERVER_ERROR_CODES.fullmatch(c)}
            rate = sum(errors.values()) / total if total else 0.0
            if total < self.min_requests or rate <= self.max_rate:
                self._firing.pop(model, None)
                continue
            if model in self._firing:
                continue
            self._firing[model] = now
            out.append(Event(SERVER_ERRORS, f"model/{model}", details={
                "error_rate": round(rate, 4), "errors": sum(errors.values()), "requests": int(total),
                "codes": errors, "seconds": round(now - since, 1), "max_rate": self.max_rate},
                key=f"{SERVER_ERRORS}:{model}:{int(now)}"))
        for model in set(self._firing) - set(per_model):
            self._firing.pop(model)  # no traffic: the incident is over
        return out
