"""The model server: versions + batching + request log + metrics, behind REST and gRPC.

:func:`serve` starts a :class:`Server` over a Pusher base folder and returns it running (REST
on ``rest_port``, gRPC on ``grpc_port``, TF Serving's defaults 8501/8500; ``0`` picks a free
port). ``mlprod serve`` is the same from a shell and drains on SIGTERM.

Example:
    (tests/serving/test_server.py runs this.)
    >>> import mlprod
    >>> srv = mlprod.serve("/srv/models/penguin", model_name="penguin",
    ...                    batching=True, log_dir="/srv/logs/penguin")         # doctest: +SKIP
    >>> srv.rest_url                                                            # doctest: +SKIP
    'http://127.0.0.1:8501'
    >>> srv.rollback(1)         # serve version 1 alone (a pin next to the models)  # doctest: +SKIP
    >>> srv.stop()              # drain: finish in-flight requests, write every log record  # doctest: +SKIP
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlprod._compat import renamed
from mlprod.errors import ConfigError, DataError, NotFound, Unavailable
from mlprod.params import Interval, Kind, OneOf, check_params
from mlprod.serving.batching import BATCHING_PARAMS, Batcher, request_rows, run_unbatched
from mlprod.serving.config import ModelConfig, read_model_config
from mlprod.serving.model import Servable, Signature
from mlprod.serving.requestlog import RequestLog
from mlprod.serving.status import error_status, new_request_id  # noqa: F401 - re-exported (older imports)
from mlprod.serving.versions import Versions

log = logging.getLogger("mlprod.serving")


#: serve()'s own options (the batching and log ones are checked by their tables; mlprod.params)
SERVE_PARAMS = {"rest_port": Interval(int, 0, 65535, optional=True), "grpc_port": Interval(int, 0, 65535, optional=True),
                "poll_s": Interval(float, 0, closed="neither"), "version_policy": OneOf("latest", "all", "specific"),
                "num_latest": Interval(int, 1), "log_sample_rate": Interval(float, 0, 1, closed="right"),
                "log_flush_interval_s": Interval(float, 0, closed="neither"),
                # access control (mlprod.serving.access) and TLS: files, or None (off)
                "api_keys_file": Kind(str, os.PathLike, optional=True), "open_health": Kind(bool),
                "open_metrics": Kind(bool), "tls_cert": Kind(str, os.PathLike, optional=True),
                "tls_key": Kind(str, os.PathLike, optional=True),
                "tls_client_ca": Kind(str, os.PathLike, optional=True), "require_approval": Kind(bool)}


@dataclass(frozen=True)
class Batching:
    """TF Serving's batching parameters (``--enable_batching`` with a batching config)."""

    max_batch_size: int = 32
    batch_timeout_s: float = 0.002
    num_batch_threads: int = 2

    def __post_init__(self) -> None:
        check_params("Batching", vars(self), BATCHING_PARAMS)


def _metrics(model: str) -> Any:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    reg = CollectorRegistry()
    return {
        "registry": reg,
        "requests": Counter("mlprod_serving_requests", "Requests answered", ["model", "api", "code"], registry=reg),
        "latency": Histogram("mlprod_serving_request_latency_seconds", "Request latency", ["model", "api"],
                             registry=reg, buckets=(.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5)),
        "batch": Histogram("mlprod_serving_batch_size", "Rows per model call", ["model"], registry=reg,
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)),
        "version": Gauge("mlprod_serving_model_version", "Default version being served", ["model"], registry=reg),
        "logged": Gauge("mlprod_serving_logged_records", "Request records written to the log", ["model"], registry=reg),
        "dropped": Gauge("mlprod_serving_log_dropped_records", "Request records not logged", ["model"], registry=reg),
    }


class _Model:
    """One served model: its config, versions and request log."""

    def __init__(self, cfg: ModelConfig, versions: Versions, request_log: RequestLog | None,
                 labels: dict[str, int]) -> None:
        self.cfg, self.versions, self.request_log, self.labels = cfg, versions, request_log, labels


class Server:
    """A running model server (see :func:`serve`); also usable in-process through :meth:`infer`."""

    @renamed(base_path="model_dir")
    def __init__(self, model_dir: str | None = None, *, model_name: str = "model", host: str = "127.0.0.1",
                 rest_port: int | None = 8501, grpc_port: int | None = 8500,
                 batching: bool | Batching = False, log_dir: str | None = None, log_sample_rate: float = 1.0,
                 log_flush_interval_s: float = 1.0, log_max_file_bytes: int = 64 << 20,
                 log_max_total_bytes: int | None = None, version_policy: str = "latest", num_latest: int = 1,
                 versions: list[int] | None = None, poll_s: float = 1.0,
                 version_labels: dict[str, int] | None = None,
                 model_config_file: str | None = None, feature_store: Any = None,
                 require_approval: bool = False, api_keys_file: str | None = None,
                 open_health: bool = True, open_metrics: bool = False, tls_cert: str | None = None,
                 tls_key: str | None = None, tls_client_ca: str | None = None) -> None:
        if (model_dir is None) == (model_config_file is None):
            raise ConfigError("pass model_dir (one model) or model_config_file (TF Serving's config of one or more "
                              "models), not both.")
        if rest_port is None and grpc_port is None:
            raise ConfigError("pass rest_port and/or grpc_port (0 picks a free port).")
        check_params("serve", {**locals(), "log_sample_rate": log_sample_rate}, SERVE_PARAMS)
        self.tls = _check_tls(tls_cert, tls_key, tls_client_ca)
        if not open_health and api_keys_file is None:
            raise ConfigError("open_health=False protects /healthz with API keys: pass api_keys_file too "
                              "(`mlprod serve-keys add` makes one).")
        self.open_health, self.open_metrics = open_health, open_metrics
        if api_keys_file is not None:
            from mlprod.serving.access import KeyStore

            self.keys: Any = KeyStore(str(api_keys_file))
        else:
            self.keys = None
        configs = read_model_config(model_config_file) if model_config_file else [
            ModelConfig(model_name, str(model_dir), version_policy, num_latest, versions, dict(version_labels or {}))]
        self.host = host
        self._want_rest, self._want_grpc = rest_port, grpc_port
        self.rest_port: int | None = None
        self.grpc_port: int | None = None
        self.m = _metrics(configs[0].name)
        self._batch_size = self.m["batch"].labels(configs[0].name)
        self.models: dict[str, _Model] = {}
        for cfg in configs:
            labels = _check_labels(cfg.version_labels)
            vs = Versions(cfg.base_path, policy=cfg.version_policy, num_latest=cfg.num_latest, specific=cfg.versions,
                          poll_s=poll_s, on_change=self._on_change(cfg.name), keep=list(labels.values()),
                          name=cfg.name, require_approval=require_approval)
            folder = None if not log_dir else (log_dir if len(configs) == 1 else f"{log_dir}/{cfg.name}")
            rl = (RequestLog(folder, sample_rate=log_sample_rate, flush_interval_s=log_flush_interval_s,
                             max_file_bytes=log_max_file_bytes, max_total_bytes=log_max_total_bytes)
                  if folder else None)
            if rl is not None:
                self.m["logged"].labels(cfg.name).set_function(lambda rl=rl: rl.written)
                self.m["dropped"].labels(cfg.name).set_function(lambda rl=rl: rl.dropped)
            self.models[cfg.name] = _Model(cfg, vs, rl, labels)
        first = self.models[configs[0].name]
        # the first (often only) model, as attributes: what single-model callers use
        self.model_name, self.versions, self.request_log = configs[0].name, first.versions, first.request_log
        self.version_labels = first.labels
        cfg_b = Batching() if batching is True else (batching or None)
        self.batching = cfg_b
        self.batcher = (Batcher(self._run, max_batch_size=cfg_b.max_batch_size, batch_timeout_s=cfg_b.batch_timeout_s,
                                num_batch_threads=cfg_b.num_batch_threads,
                                on_run=self._ran) if cfg_b else None)
        #: mlprod.serving.features.OnlineFeatures joined into example-taking requests (None: off)
        self.feature_store = feature_store
        self.draining = False
        self._rest: Any = None
        self._rest_thread: threading.Thread | None = None
        self._grpc: Any = None
        self._stopped = threading.Event()

    # -- the one inference path both APIs use ---------------------------------------------
    def _on_change(self, name: str) -> Any:
        def changed(version: int | None) -> None:
            if version is not None:
                self.m["version"].labels(name).set(version)
                log.info("%s now serves version %s", name, version)
        return changed

    def _run(self, key: Hashable, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        sv, sig_name = key[0], key[1]  # type: ignore[index]
        return sv.run(sig_name, inputs)

    def _ran(self, key: Any, items: list[tuple[str | None, int]], inputs: dict[str, np.ndarray],
             outputs: dict[str, np.ndarray]) -> None:
        """After a model call answered: the batch-size metric, and the log (one call per batch)."""
        self._batch_size.observe(sum(n for _, n in items))
        sv, sig_name = key
        model = self.models.get(sv.model_name)
        rl = model.request_log if model is not None else self.request_log
        if rl is None:
            return
        ids: list[str] = []
        for rid, n in items:
            rid = rid or new_request_id()
            ids.extend([rid] if n == 1 else [f"{rid}-{i}" for i in range(n)])
        rl.log(inputs, outputs, version=sv.version, request_ids=ids,
               takes_examples=sv.signatures[sig_name].takes_examples)

    def model(self, name: str) -> _Model:
        """The served model called ``name`` (NotFound when this server does not serve it)."""
        m = self.models.get(name)
        if m is None:  # with access control, the names of other models are not a client's business
            raise NotFound(f"model {name!r} is not served here" +
                           ("." if self.keys is not None else f" (this server serves {sorted(self.models)})."))
        return m

    def label_version(self, label: str, name: str | None = None) -> int:
        """The version a TF Serving version label (``stable``, ``canary``) names (NotFound if none)."""
        m = self.model(name or self.model_name)
        labels = {**m.versions.file_labels, **m.labels}  # the registry's aliases (require_approval), then the config's
        if label not in labels:
            raise NotFound(f"version label {label!r} is not defined for model {m.cfg.name!r} "
                           f"(labels: {labels or 'none'}); define it with version_labels={{...}}, "
                           "version_labels in a model config file, or a registry alias (require_approval).")
        return labels[label]

    def resolve(self, name: str, version: int | str | None,
                signature_name: str | None) -> tuple[Servable, Signature]:
        """The servable and signature a request addresses: ``version`` is a number, a version label
        or None (the default). NotFound for another model, version or label."""
        m = self.model(name)
        if isinstance(version, str):
            version = self.label_version(version, name)
        try:
            sv = m.versions.get(version)
        except DataError as e:
            raise NotFound(str(e)) from None
        return sv, sv.signature(signature_name)

    def submit(self, sv: Servable, sig: Signature, inputs: dict[str, np.ndarray], request_id: str | None = None,
               *, admitted: bool = False) -> Any:
        """Queue (batching) or run one request; returns a Future of its outputs. The request is
        logged (with ``log_dir``) once it has run, under ``request_id`` (``ID-i`` for row ``i``).
        While draining, only requests ``admitted`` before it began (the APIs check on arrival) run."""
        if self.draining and not admitted:
            raise Unavailable("the server is shutting down; retry on another replica.")
        inputs = self._with_features(sig, inputs)
        key = (sv, sig.name)
        if self.batcher is not None:
            return self.batcher.submit(key, inputs, request_id)
        fut = run_unbatched(self._run, key, inputs)
        if fut.exception() is None:
            rows = request_rows(inputs)
            self._ran(key, [(request_id, 1 if rows is None else rows)], inputs, fut.result())
        return fut

    def submit_async(self, sv: Servable, sig: Signature, inputs: dict[str, np.ndarray],
                     request_id: str | None = None, *, admitted: bool = False) -> Any:
        """:meth:`submit` for the REST server's event loop: an awaitable of the outputs."""
        if self.batcher is not None and (admitted or not self.draining):
            return self.batcher.submit_async((sv, sig.name), self._with_features(sig, inputs), request_id)
        done = self.submit(sv, sig, inputs, request_id, admitted=admitted)  # unbatched: it ran here, in the loop's thread
        fut = asyncio.get_running_loop().create_future()  # handed over without asyncio.wrap_future's wake-up
        if done.exception() is None:
            fut.set_result(done.result())
        else:
            fut.set_exception(done.exception())
        return fut

    def _with_features(self, sig: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The request's examples with the feature store's online values added (one lookup per request)."""
        if self.feature_store is None or not sig.takes_examples:
            return inputs
        name = next(iter(sig.inputs))
        return {**inputs, name: self.feature_store.join(inputs[name], sig.example_features)}

    def infer(self, inputs: dict[str, np.ndarray], *, version: int | None = None, signature_name: str | None = None,
              request_id: str | None = None, model_name: str | None = None) -> dict[str, np.ndarray]:
        """Run one batch in-process through batching and logging, as a request would.

        Example:
            (tests/serving/test_server.py runs this.)
            >>> srv.infer({"examples": np.array(serialized_examples, dtype=object)})["outputs"].shape  # doctest: +SKIP
            (10, 3)
        """
        sv, sig = self.resolve(model_name or self.model_name, version, signature_name)
        return self.submit(sv, sig, inputs, request_id or new_request_id()).result()

    # -- lifecycle ------------------------------------------------------------------------
    #: seconds between two readings of the request counters for ``server_errors`` events
    error_watch_s: float = 60.0

    def start(self) -> Server:
        """Load the servable versions (of every model), then open the REST and gRPC ports; with
        alerts configured (:mod:`mlprod.alerts`), watch the server-error share for ``server_errors`` events."""
        from mlprod.alerts import enabled

        for m in self.models.values():
            m.versions.start()
        if enabled():
            threading.Thread(target=self._watch_errors, name="mlprod-error-rate", daemon=True).start()
        exposed = self.keys is None and self.host not in ("127.0.0.1", "localhost", "::1")
        log.log(logging.WARNING if exposed else logging.INFO, "%s", self.access_note())  # off on 0.0.0.0: say so loudly
        if self._want_grpc is not None:
            from mlprod.serving.grpc_api import start_grpc

            self._grpc, self.grpc_port = start_grpc(self, self.host, self._want_grpc)
        if self._want_rest is not None:
            self._start_rest()
        return self

    def _watch_errors(self) -> None:
        from mlprod.alerts import emit
        from mlprod.alerts.rate import ErrorRate, request_counts

        watch = ErrorRate()
        watch.observe(request_counts(self.m["registry"]), time.time())
        while not self._stopped.wait(self.error_watch_s) and not self.draining:
            for event in watch.observe(request_counts(self.m["registry"]), time.time()):
                emit(event)

    def _start_rest(self) -> None:
        import uvicorn

        from mlprod.serving.rest import make_app

        tls: dict[str, Any] = {}
        if self.tls:
            import ssl

            cert, key, ca = self.tls
            tls = {"ssl_certfile": cert, "ssl_keyfile": key}
            if ca:
                tls.update(ssl_ca_certs=ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
        config = uvicorn.Config(make_app(self), host=self.host, port=int(self._want_rest or 0), log_level="warning",
                                lifespan="off", timeout_graceful_shutdown=30, access_log=False,
                                proxy_headers=False,  # nothing here reads the client address
                                server_header=False, **tls)
        self._rest = uvicorn.Server(config)
        self._rest_thread = threading.Thread(target=self._rest.run, name="mlprod-rest", daemon=True)
        self._rest_thread.start()
        deadline = time.monotonic() + 30
        while not self._rest.started:
            if not self._rest_thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the REST server could not listen on {self.host}:{self._want_rest} "
                                  "(port in use?); pass another rest_port, or 0 for a free one.")
            time.sleep(0.01)
        self.rest_port = self._rest.servers[0].sockets[0].getsockname()[1]

    @property
    def rest_url(self) -> str | None:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.rest_port}" if self.rest_port else None

    @property
    def grpc_target(self) -> str | None:
        return f"{self.host}:{self.grpc_port}" if self.grpc_port else None

    def stop(self, grace_s: float = 30.0) -> None:
        """Drain and stop: refuse new requests, finish in-flight ones, write every queued log record."""
        if self._stopped.is_set():
            return
        self.draining = True
        if self._grpc is not None:
            self._grpc.stop(grace_s).wait(grace_s)
        if self._rest is not None:
            self._rest.should_exit = True
            if self._rest_thread is not None:
                self._rest_thread.join(grace_s + 5)
        if self.batcher is not None:
            self.batcher.close(grace_s)
        for m in self.models.values():
            if m.request_log is not None:
                m.request_log.close(grace_s)
            m.versions.stop()
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`stop` has finished (for ``mlprod serve``)."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- versions -------------------------------------------------------------------------
    def rollback(self, version: int, model_name: str | None = None) -> None:
        """Serve ``version`` alone from now on (a pin file beside the models, seen by every replica)."""
        self.model(model_name or self.model_name).versions.pin(int(version))

    def unpin(self, model_name: str | None = None) -> None:
        """Back to the version policy (the newest version serves again)."""
        self.model(model_name or self.model_name).versions.unpin()

    def status(self, version: int | str | None = None, *, name: str | None = None) -> list[dict[str, Any]]:
        """TF Serving's ``model_version_status`` list (of one version or label when given).

        Raises:
            NotFound: another model's name, or a version (label) this server has never seen.
        """
        m = self.model(name or self.model_name)
        if isinstance(version, str):
            version = self.label_version(version, m.cfg.name)
        try:
            return m.versions.status(version)
        except DataError as e:
            raise NotFound(f"model {m.cfg.name!r}: {e}") from None

    def access_note(self) -> str:
        """One line saying whether access control and TLS are on (logged at start)."""
        tls = "off" if not self.tls else ("on, client certificates required (mutual TLS)" if self.tls[2] else "on")
        if self.keys is None:
            return (f"access control: off (no api_keys_file): every client that reaches the ports can call every "
                    f"model; TLS {tls}.")
        return (f"access control: on, {len(self.keys)} API keys from {self.keys.path} (re-read when it changes); "
                f"health {'open' if self.open_health else 'protected'}, metrics "
                f"{'open' if self.open_metrics else 'protected'}; TLS {tls}.")

    def health_problems(self) -> list[str]:
        """Why the server is not healthy (empty when it is): draining, nothing loaded, a bad pin or keys file."""
        out = []
        if self.draining:
            out.append("the server is shutting down")
        if self.keys is not None:
            self.keys.refresh()
            if self.keys.error:
                out.append(self.keys.error)
        for name, m in self.models.items():
            if m.versions.default is None:
                out.append(f"no version of model {name!r} is loaded")
            if m.versions.pin_error:
                out.append(m.versions.pin_error)
        return out


def _check_tls(cert: str | None, key: str | None, client_ca: str | None) -> tuple[str, str, str | None] | None:
    """(certificate, key, client CA or None) as strings, or None without TLS; ConfigError naming a
    missing piece or file."""
    if cert is None and key is None:
        if client_ca is not None:
            raise ConfigError("tls_client_ca (mutual TLS) needs tls_cert and tls_key: the server's own certificate.")
        return None
    if cert is None or key is None:
        raise ConfigError("pass tls_cert (PEM certificate chain) and tls_key (its PEM private key) together.")
    files = {"tls_cert": str(cert), "tls_key": str(key), **({"tls_client_ca": str(client_ca)} if client_ca else {})}
    for name, path in files.items():
        if not os.path.isfile(path):
            raise ConfigError(f"{name}={path!r} is not a file; give a PEM file.")
    return files["tls_cert"], files["tls_key"], files.get("tls_client_ca")


def _check_labels(labels: dict[str, int] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for k, v in (labels or {}).items():
        if not isinstance(k, str) or not k or k.isdigit() or "/" in k or ":" in k:
            raise ConfigError(f"version label {k!r} must be a name (not a number, no '/' or ':'), e.g. 'stable'.")
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"version label {k!r} must name a version number >= 0, got {v!r}.")
        out[k] = v
    return out


@renamed(base_path="model_dir")
def serve(model_dir: str | None = None, *, model_name: str = "model", host: str = "127.0.0.1", rest_port: int | None = 8501,
          grpc_port: int | None = 8500, batching: bool | Batching = False, log_dir: str | None = None,
          **kwargs: Any) -> Server:
    """Serve the numbered versions under ``model_dir`` with TF Serving's REST and gRPC APIs.

    Args:
        model_dir: the Pusher's push destination (TF Serving's ``--model_base_path``; ``base_path=``
            is the old name, for one release) (``<base>/<version>/saved_model.pb`` or ``model.tflite``;
            ``00000123`` is version 123). Or, instead, ``model_config_file=`` (in ``**kwargs``):
            TF Serving's model-config file of one or more models (:mod:`mlprod.serving.config`).
        model_name: the name in ``/v1/models/NAME`` and in gRPC ``model_spec.name``.
        host: interface to listen on (``0.0.0.0`` for every interface).
        rest_port, grpc_port: ports (TF Serving's 8501, 8500); ``0`` picks a free one; ``None`` disables.
        batching: ``True`` or a :class:`Batching` for dynamic batching (TF Serving's ``--enable_batching``).
        log_dir: append every request (features, prediction, version, id, time) to TFRecords here.
        **kwargs: ``log_sample_rate``, ``log_flush_interval_s`` (1 s), ``log_max_file_bytes``,
            ``log_max_total_bytes``, ``version_policy`` (``latest``/``all``/``specific``), ``num_latest``,
            ``versions``, ``poll_s`` (how often the base folder is scanned), ``version_labels``
            (TF Serving's labels, e.g. ``{"stable": 1, "canary": 2}``: ``/labels/stable:predict``,
            gRPC ``model_spec.version_label``; serve both versions with ``version_policy="all"``
            or ``"specific"``), ``feature_store`` (an :class:`mlprod.serving.features.OnlineFeatures`:
            example-taking requests carry entity keys, the server adds the store's online values,
            one lookup per request; ``mlprod serve --feature-store REPO --features v:f,...``),
            ``require_approval`` (serve only the version the model registry approved,
            :mod:`mlprod.tracking`; its aliases, e.g. ``candidate``, become labels).
            Access (docs/serving.md, "Access control"): ``api_keys_file`` (a keys file of :mod:`mlprod.serving.access`; None, the default: no access control),
            ``open_health`` (True: ``/healthz`` answers without a key, status only),
            ``open_metrics`` (False: metrics need a key for every model); ``tls_cert`` and
            ``tls_key`` (PEM files: REST over HTTPS, gRPC over TLS), ``tls_client_ca`` (PEM CA:
            clients must present a certificate it signed, mutual TLS).

    Returns:
        The running :class:`Server` (``rest_url``, ``grpc_target``, ``rollback``, ``stop``).

    Raises:
        DataError: ``model_dir`` is missing or holds no loadable version.
        ConfigError: a bad option or a port that cannot be opened.

    Example:
        (tests/serving/test_server.py runs this.)
        >>> srv = serve("/srv/models/penguin", model_name="penguin", rest_port=0, grpc_port=0)  # doctest: +SKIP
        >>> import requests
        >>> requests.get(f"{srv.rest_url}/v1/models/penguin").json()          # doctest: +SKIP
        {'model_version_status': [{'version': '1', 'state': 'AVAILABLE', ...}]}
    """
    srv = Server(None if model_dir is None else str(model_dir), model_name=model_name, host=host, rest_port=rest_port, grpc_port=grpc_port,
                 batching=batching, log_dir=log_dir, **kwargs)
    try:
        return srv.start()
    except BaseException:
        srv.stop(1)
        raise
