"""Replay a DataFrame through a TF Serving-compatible server as real requests, REST or gRPC.

For shadow tests, load checks and monitoring rehearsals: the rows go out in batches as
``:predict`` requests (REST ``instances`` with raw feature objects, or gRPC ``Predict`` with
TF Serving's own client and protos), each batch with its own request id. A label column is
not sent; it comes back as ``{request id of the row: label}``, ready for
:func:`mlprod.log_feedback` when the ground truth "arrives".

Request ids follow the server's logging: a batch sent as ``ID`` logs its rows as ``ID-0``,
``ID-1``, ... (a one-row batch as ``ID``).

Example:
    (tests/monitoring/test_retrain.py runs this against ``mlprod.serve``.)
    >>> from mlprod.serving import replay
    >>> out = replay(srv.rest_url, month_df, model="taxi", label="label", id_prefix="2015-01")  # doctest: +SKIP
    >>> out.sent, out.failed, len(out.labels)                                               # doctest: +SKIP
    (1012, [], 1012)
    >>> mlprod.log_feedback(log_dir, out.labels)                                            # doctest: +SKIP
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlprod.errors import ConfigError, DataError
from mlprod.reporting import HtmlResult, html_page, table_html

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

PROTOCOLS = ("rest", "grpc")
HTML_ROWS = 100  # rows of the table the HTML view shows (table.csv has them all)


@dataclass
class ReplayResult(HtmlResult):
    """What :func:`replay` sent (the result protocol: ``.table``, ``to_html``, ``.save(output_dir)``).

    ``table`` has one row per row sent, in order: request_id (as the server logs the row),
    batch_id (the request it went in), prediction, label (with ``label=``), error (the failed
    request's message, else None).

    Attributes:
        sent: rows sent.
        failed: one message per failed request (status and the server's error).
        labels: ``{request id of a row: label}`` for the rows of successful requests (empty
            without ``label``).
        predictions: the ``predictions`` / first output per row, in row order (None where a
            request failed).
        seconds: wall time.
        request_ids, batch_ids: per row, the id it is logged under and its request's id.
    """

    sent: int = 0
    failed: list[str] = field(default_factory=list)
    labels: dict[str, Any] = field(default_factory=dict)
    predictions: list[Any] = field(default_factory=list)
    seconds: float = 0.0
    request_ids: list[str] = field(default_factory=list)
    batch_ids: list[str] = field(default_factory=list)

    @property
    def table(self) -> "pd.DataFrame":
        """One row per row sent: request_id, batch_id, prediction, label, error."""
        import pandas as pd

        errors = {m.split(": ", 1)[0]: m.split(": ", 1)[1] if ": " in m else m for m in self.failed}
        n = len(self.predictions)
        rids: list[str | None] = list(self.request_ids) or [None] * n
        bids: list[str | None] = list(self.batch_ids) or [None] * n
        return pd.DataFrame({"request_id": rids, "batch_id": bids, "prediction": self.predictions,
                             "label": [self.labels.get(r) if r is not None else None for r in rids],
                             "error": [errors.get(b) if b is not None else None for b in bids]},
                            columns=["request_id", "batch_id", "prediction", "label", "error"])

    def __repr__(self) -> str:
        return f"<ReplayResult {self.sent} rows sent, {len(self.failed)} failed request(s), {self.seconds:.2f} s>"

    def to_html(self, full: bool = True) -> str:
        """Summary, failed requests, and the first rows of the table."""
        import html

        rate = f", {self.sent / self.seconds:,.0f} rows/s" if self.seconds > 0 else ""
        summary = f"<p>{self.sent} rows sent in {self.seconds:.2f} s{rate}; {len(self.failed)} request(s) failed.</p>"
        failed = "".join(f"<p class='mlprod-bad'>{html.escape(m)}</p>" for m in self.failed[:50]) or "<p>none</p>"
        t = self.table.head(HTML_ROWS).astype(str)
        return html_page("mlprod replay", [("Summary", summary), ("Failed requests", failed),
                                           (f"Rows (first {min(HTML_ROWS, len(self.table))} of {len(self.table)})",
                                            table_html(t))], full=full)


def _native(v: Any) -> Any:
    """A JSON/tf.Example-friendly Python value (NaN/None -> None: the feature is left out)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, np.generic):
        v = v.item()
        return None if isinstance(v, float) and math.isnan(v) else v
    return v


def replay(target: str, rows: Any, *, model: str, label: str | None = None, batch_size: int = 25,
           protocol: str = "rest", id_prefix: str = "replay", signature: str | None = None,
           timeout_s: float = 30.0) -> ReplayResult:
    """Send ``rows`` to the server at ``target`` as ``:predict`` requests of ``batch_size`` rows.

    Args:
        target: REST base URL (``http://host:8501``, :attr:`Server.rest_url`) or, for gRPC,
            ``host:port`` (:attr:`Server.grpc_target`).
        rows: a pandas DataFrame of raw features (extra columns, e.g. a timestamp, are sent too
            and logged by the server; the signature ignores what it does not parse).
        model: the served model's name.
        label: a column to hold back and return per request id (ground truth for feedback).
        batch_size: rows per request.
        protocol: ``"rest"`` or ``"grpc"`` (TF Serving's ``PredictionService`` client).
        id_prefix: request ids are ``{id_prefix}-{first row}``.
        signature: signature name (default: the server's default).
        timeout_s: per-request timeout.

    Returns:
        a :class:`ReplayResult`; failed requests are counted, not raised.

    Example:
        (tests/monitoring/test_retrain.py replays months over REST and gRPC.)
        >>> from mlprod.serving import replay
        >>> r = replay("http://127.0.0.1:8501", df, model="penguin", label="species")  # doctest: +SKIP
        >>> r.failed                                                                    # doctest: +SKIP
        []
    """
    import pandas as pd

    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol={protocol!r}; choose one of {PROTOCOLS}.")
    if not isinstance(rows, pd.DataFrame):
        raise DataError(f"rows must be a pandas DataFrame, got {type(rows).__name__}.")
    if rows.empty:
        raise DataError("rows is empty: nothing to replay.")
    if label is not None and label not in rows.columns:
        raise DataError(f"label column {label!r} is not in rows (columns: {list(rows.columns)[:12]}).")
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size={batch_size}: send at least 1 row per request.")
    features = rows.drop(columns=[label]) if label is not None else rows
    records = [{k: _native(v) for k, v in r.items()} for r in features.to_dict("records")]
    truth = rows[label].tolist() if label is not None else None
    send = (_rest_sender if protocol == "rest" else _grpc_sender)(target, model, signature, timeout_s)
    out = ReplayResult()
    t0 = time.perf_counter()
    for i in range(0, len(records), int(batch_size)):
        batch = records[i:i + int(batch_size)]
        rid = f"{id_prefix}-{i}"
        out.sent += len(batch)
        ids = [rid] if len(batch) == 1 else [f"{rid}-{j}" for j in range(len(batch))]
        out.request_ids.extend(ids)
        out.batch_ids.extend([rid] * len(batch))
        try:
            preds = send(batch, rid)
        except _Failed as e:
            out.failed.append(f"{rid}: {e}")
            out.predictions.extend([None] * len(batch))
            continue
        out.predictions.extend(preds)
        if truth is not None:
            out.labels.update({k: _native(y) for k, y in zip(ids, truth[i:i + len(batch)], strict=True)})
    out.seconds = time.perf_counter() - t0
    return out


class _Failed(Exception):
    """One request failed (status and message); replay counts it and goes on."""


def _rest_sender(url: str, model: str, signature: str | None, timeout_s: float) -> Any:
    import requests

    session = requests.Session()
    endpoint = f"{url.rstrip('/')}/v1/models/{model}:predict"

    def send(batch: list[dict], rid: str) -> list[Any]:
        body: dict[str, Any] = {"instances": batch}
        if signature:
            body["signature_name"] = signature
        try:
            r = session.post(endpoint, json=body, headers={"X-Request-Id": rid}, timeout=timeout_s)
        except requests.RequestException as e:
            raise _Failed(f"{type(e).__name__}: {e}") from None
        if r.status_code != 200:
            raise _Failed(f"HTTP {r.status_code}: {r.text[:300]}")
        preds = r.json()["predictions"]
        return [next(iter(p.values())) if isinstance(p, dict) else p for p in preds]

    return send


def _grpc_sender(target: str, model: str, signature: str | None, timeout_s: float) -> Any:
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

    from mlprod.serving.codec import example_from_features

    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(target))
    meta_req = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    meta_req.model_spec.name = model
    try:
        meta = stub.GetModelMetadata(meta_req, timeout=timeout_s)
    except grpc.RpcError as e:
        raise DataError(f"cannot read model {model!r}'s signatures from {target} over gRPC: {e.code().name} "
                        f"{e.details()}; is the server's gRPC port right (Server.grpc_target)?") from None
    sigs = get_model_metadata_pb2.SignatureDefMap()
    meta.metadata["signature_def"].Unpack(sigs)
    name = signature or "serving_default"
    if name not in sigs.signature_def:
        raise DataError(f"model {model!r} has no signature {name!r} (it has {sorted(sigs.signature_def)}).")
    inputs = sigs.signature_def[name].inputs
    examples = len(inputs) == 1 and next(iter(inputs.values())).dtype == tf.string.as_datatype_enum

    def send(batch: list[dict], rid: str) -> list[Any]:
        req = predict_pb2.PredictRequest()
        req.model_spec.name = model
        req.model_spec.signature_name = name
        if examples:
            req.inputs[next(iter(inputs))].CopyFrom(tf.make_tensor_proto([example_from_features(
                {k: v for k, v in r.items() if v is not None}) for r in batch]))
        else:
            for k in inputs:
                if any(k not in r for r in batch):
                    raise DataError(f"signature {name!r} takes input {k!r}; rows have no such column.")
                req.inputs[k].CopyFrom(tf.make_tensor_proto(np.array([r[k] for r in batch])))
        try:
            resp = stub.Predict(req, timeout=timeout_s, metadata=(("x-request-id", rid),))
        except grpc.RpcError as e:
            raise _Failed(f"{e.code().name}: {e.details()}") from None
        first = sorted(resp.outputs)[0] if "outputs" not in resp.outputs else "outputs"
        return list(tf.make_ndarray(resp.outputs[first]).tolist())

    return send
