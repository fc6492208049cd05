"""TF Serving's REST API (https://www.tensorflow.org/tfx/serving/api_rest) on Starlette.

Routes: ``GET /v1/models/NAME[/versions/V]`` (status), ``GET .../metadata`` (signature defs),
``POST /v1/models/NAME[/versions/V]:predict|:classify|:regress``; plus ``POST /v1/feedback``
(ground-truth labels for logged request ids), ``GET /healthz`` and Prometheus metrics at
``/monitoring/prometheus/metrics`` (TF Serving's path) and ``/metrics``. Every response carries
``X-Request-Id`` (the client's, or a new one); logged rows carry it (``ID-i`` for row ``i`` of a
multi-row request).

The routes are plain Starlette routes (the ASGI toolkit FastAPI is built on): every handler takes
the raw request and answers JSON itself, so FastAPI's per-request dependency solving and
telemetry checks would be pure overhead on the hot path (measured: about a third of the REST
thread's time per request).

Example:
    (tests/serving/test_server.py runs this.)
    >>> app = make_app(server)    # a mlprod.serving.Server; uvicorn runs it  # doctest: +SKIP
"""
from __future__ import annotations

import functools
import json
import re
import time
from typing import Any

import numpy as np

from mlprod.errors import DataError, Unavailable
from mlprod.serving import codec

_PATH = re.compile(r"^(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?:/labels/(?P<label>[^/:]+))?"
                   r"(?::(?P<verb>predict|classify|regress))?(?P<meta>/metadata)?$")


class _Disconnected(Exception):
    """The client closed the connection before its body arrived."""


@functools.cache
def _print_all_fields() -> dict[str, bool]:
    """MessageToDict's flag printing default-valued fields, as TF Serving prints them (``"name": ""``)."""
    import inspect

    from google.protobuf import json_format

    params = inspect.signature(json_format.MessageToDict).parameters
    for flag in ("always_print_fields_with_no_presence", "including_default_value_fields"):
        if flag in params:
            return {flag: True}
    return {}



def _json(obj: Any, status: int = 200, request_id: str | None = None) -> Any:
    from starlette.responses import Response

    headers = {"X-Request-Id": request_id} if request_id else {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return Response(json.dumps(obj), status_code=status, media_type="application/json", headers=headers or None)


def make_app(server: Any) -> Any:
    """The Starlette (ASGI) application of a :class:`mlprod.serving.Server`."""
    from google.protobuf import json_format
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from mlprod.errors import NotFound
    from mlprod.serving.status import error_status, new_request_id

    m = server.m
    keys = server.keys  # None: access control off
    apis = ("predict", "classify", "regress")
    ok_count = {(n, api): m["requests"].labels(n, api, "200") for n in server.models for api in apis}
    latency = {(n, api): m["latency"].labels(n, api) for n in server.models for api in apis}

    def metric_name(rest: str) -> str:
        """The model a path names when it is served (metrics stay bounded), else the first model."""
        name = rest.split("/", 1)[0].split(":", 1)[0]
        return name if name in server.models else server.model_name

    def parse(rest: str) -> tuple[str, int | str | None, str | None, bool]:
        """(model name, version number or label or None, verb, metadata?) of a /v1/models/... path."""
        match = _PATH.match(rest)
        if not match or (match["version"] and match["label"]):
            raise NotFound(f"unknown path /v1/models/{rest}; use /v1/models/NAME[/versions/V | /labels/L]"
                           "[:predict|:classify|:regress] or /metadata.")
        version: int | str | None = int(match["version"]) if match["version"] else match["label"]
        return match["name"], version, match["verb"], bool(match["meta"])

    async def read_json(request: Request) -> Any:
        from starlette.requests import ClientDisconnect

        try:
            raw = await request.body()
        except ClientDisconnect:
            raise _Disconnected() from None
        try:
            return json.loads(raw)
        except json.JSONDecodeError as e:
            raise DataError(f"the request body is not JSON ({e}).") from None
        except RecursionError:
            raise DataError("the request body nests JSON too deeply to parse; send flat lists of values.") from None

    def error(e: Exception, api: str, rid: str | None, name: str | None = None) -> Any:
        name = name or server.model_name
        if isinstance(e, _Disconnected):  # the client went away mid-body: nobody to answer, not a 5xx
            m["requests"].labels(name, api, "499").inc()
            return _json({"error": "the client closed the connection before sending the whole body."}, 499, rid)
        code, msg = error_status(e, server.draining)
        m["requests"].labels(name, api, str(code)).inc()
        return _json({"error": msg}, code, rid)

    async def authenticated(request: Request) -> Any:
        """The request's valid API key (401 raised). A key seen before costs a digest; a new one is
        verified (scrypt, ~60 ms) off the event loop."""
        auth = request.headers.get("authorization")
        key = keys.cached(auth)
        if key is None:
            import asyncio

            key = await asyncio.to_thread(keys.authenticate, auth)
        return key

    async def guard(request: Request, model: str | None, what: str = "") -> Any:
        """The request's API key, allowed ``model`` (None: every model, for ``what``); 401/403 raised.
        Off: None."""
        if keys is None:
            return None
        key = await authenticated(request)
        if model is None:
            keys.authorize_all(key, list(server.models), what)
        else:
            keys.authorize(key, model)
        return key

    def ok(api: str, obj: Any, name: str) -> Any:
        m["requests"].labels(name, api, "200").inc()
        return _json(obj, 200)

    async def status(request: Request) -> Any:
        rest = request.path_params["rest"]
        api = "status"
        try:
            if keys is not None:
                await guard(request, rest.split("/", 1)[0].split(":", 1)[0])
            name, version, verb, meta = parse(rest)
            if verb:
                raise NotFound(f":{verb} takes POST.")
            if meta:
                api = "metadata"
                sv, _ = server.resolve(name, version, None)
                defs = json_format.MessageToDict(sv.signature_defs(), preserving_proto_field_name=True,
                                                 **_print_all_fields())
                return ok(api, {"model_spec": {"name": name, "signature_name": "", "version": str(sv.version)},
                                "metadata": {"signature_def": defs}}, name)
            return ok(api, {"model_version_status": server.status(version, name=name)}, name)
        except Exception as e:  # noqa: BLE001
            return error(e, api, None, metric_name(rest))

    async def infer(request: Request) -> Any:
        t0 = time.perf_counter()
        rest = request.path_params["rest"]
        rid = request.headers.get("x-request-id") or new_request_id()
        api = "predict"
        try:
            if server.draining:  # refused on arrival; a request that arrived before draining is finished
                raise Unavailable("the server is shutting down; retry on another replica.")
            if keys is not None:
                await guard(request, rest.split("/", 1)[0].split(":", 1)[0])
            name, version, verb, meta = parse(rest)
            if verb is None or meta:
                raise NotFound("POST to /v1/models/NAME[/versions/V]:predict, :classify or :regress.")
            api = verb
            body = await read_json(request)
            if not isinstance(body, dict):
                raise DataError("the request body must be a JSON object.")
            sv, sig = server.resolve(name, version, body.get("signature_name"))
            if verb == "predict":
                if ("instances" in body) == ("inputs" in body):
                    raise DataError("a :predict body needs exactly one of 'instances' (rows) or 'inputs' (columns).")
                inputs = codec.decode_instances(sig, body["instances"]) if "instances" in body else \
                    codec.decode_inputs(sig, body["inputs"])
            else:
                if not sig.takes_examples:
                    raise DataError(f":{verb} needs a signature that takes serialized tf.Examples; "
                                    f"{sig.name!r} takes {sorted(sig.inputs)}. Use :predict.")
                inputs = {next(iter(sig.inputs)): np.array(codec.examples_from_request(body, sig.example_features),
                                                            dtype=object)}
            outputs = await server.submit_async(sv, sig, inputs, rid, admitted=True)
            if verb == "predict":
                result = {"predictions": codec.encode_predictions(outputs)} if "instances" in body else \
                    {"outputs": codec.encode_outputs(outputs)}
            elif verb == "classify":  # TF Serving's server answers "results" (its REST doc shows "result")
                result = {"results": codec.classify_result(sig, outputs)}
            else:
                result = {"results": codec.regress_result(sig, outputs)}
            ok_count[name, api].inc()
            latency[name, api].observe(time.perf_counter() - t0)
            return _json(result, 200, rid)
        except Exception as e:  # noqa: BLE001
            return error(e, api, rid, metric_name(rest))

    async def feedback(request: Request) -> Any:
        from mlprod.serving.requestlog import log_feedback

        try:
            key = await authenticated(request) if keys is not None else None  # before an unknown client's body
            body = await read_json(request)
            if keys is not None and isinstance(body, dict):
                keys.authorize(key, body.get("model") or server.model_name)
            labels = body.get("labels") if isinstance(body, dict) else None
            if not isinstance(labels, dict) or not labels:
                raise DataError('feedback takes {"labels": {"REQUEST_ID": label, ...}, "label": "NAME", '
                                '"model": "NAME" (when the server serves several)}.')
            rl = server.model(body.get("model") or server.model_name).request_log
            if rl is None:
                raise DataError("this server logs no requests (start it with log_dir=...), so feedback has "
                                "nothing to join.")
            log_feedback(rl.log_dir, labels, label=body.get("label", "label"))
            return _json({"recorded": len(labels)})
        except Exception as e:  # noqa: BLE001
            return error(e, "feedback", None)

    async def health(request: Request) -> Any:
        detail = True
        if keys is not None:  # open: anyone learns ok / unavailable; the details need a key for every model
            try:
                await guard(request, None, "the health details")
            except Exception as e:  # noqa: BLE001
                if not server.open_health:
                    return error(e, "health", None)
                detail = False
        problems = server.health_problems()
        body: dict[str, Any] = {"status": "unavailable" if problems else "ok"}
        if detail:
            body["version"] = server.versions.default
            if problems:
                body["error"] = "; ".join(problems)
        return _json(body, 503 if problems else 200)

    async def metrics(request: Request) -> Any:
        if keys is not None and not server.open_metrics:  # model names and versions are in the labels
            try:
                await guard(request, None, "the metrics")
            except Exception as e:  # noqa: BLE001
                return error(e, "metrics", None)
        return Response(generate_latest(m["registry"]), media_type=CONTENT_TYPE_LATEST)

    async def no_route(request: Request, exc: Exception) -> Any:  # 404 / 405 as TF Serving answers: JSON
        code = getattr(exc, "status_code", 404)
        m["requests"].labels(server.model_name, "unrouted", str(code)).inc()
        what = "unknown path" if code == 404 else f"{request.method} is not allowed on"
        return _json({"error": f"{what} {request.url.path}; the API: GET /v1/models/NAME[/versions/V][/metadata], "
                               "POST /v1/models/NAME[/versions/V]:predict|:classify|:regress, POST /v1/feedback, "
                               "GET /healthz, GET /metrics."}, code)

    return Starlette(exception_handlers={404: no_route, 405: no_route}, routes=[
        Route("/v1/models/{rest:path}", status, methods=["GET"]),
        Route("/v1/models/{rest:path}", infer, methods=["POST"]),
        Route("/v1/feedback", feedback, methods=["POST"]),
        Route("/healthz", health, methods=["GET"]),
        Route("/monitoring/prometheus/metrics", metrics, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ])
