"""The ``mlprod`` command line.

Exit codes: 0 success; 1 an mlprod error (one clear line on stderr, full trace with
``--verbose``); 2 usage error; 3 the run finished but a gate said no (model not blessed/pushed).

Example:
    $ mlprod run penguin --output /tmp/penguin
    $ mlprod run --data weather.csv --label weather --output /tmp/weather
    $ mlprod --help
"""
from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlprod import __version__
from mlprod.errors import ConfigError, MlprodError

PIPELINES = ("penguin", "chicago_taxi", "mnist_edge")


def _cmd_run(args: argparse.Namespace) -> int:
    from mlprod.io.files import check_writable

    if (args.pipeline is None) == (args.data is None):
        raise ConfigError("give an example pipeline name (penguin, chicago_taxi, mnist_edge) or --data CSV_OR_FOLDER "
                          "with --label COLUMN, not both.")
    if args.data is None and (args.label or args.spec):
        raise ConfigError("--label and --spec go with --data (your own CSV); the example pipelines bring their own.")
    if args.data is not None and not args.label:
        raise ConfigError("--data needs --label COLUMN (the class column of your CSV).")
    verbose = getattr(args, "verbose", False)
    module = _pipeline_module(args.pipeline) if args.pipeline is not None else None
    out = Path(args.output).resolve()
    check_writable(out)
    cfg = _own_data_config(args, out) if module is None else module.config(out)
    what = f"the tabular pipeline on {args.data}" if module is None else f"pipeline {args.pipeline!r}"
    log = out / "run.log"
    with _quiet(None if verbose else log) as (term_out, term_err):
        print(f"running {what} with the {args.runner} runner in {out} ..."
              + ("" if verbose else f" (component logs: {log}; --verbose shows them)"), file=term_out, flush=True)
        from mlprod.pipelines.runner import run_pipeline

        if module is None:
            from mlprod.pipelines.tabular import create_pipeline

            pipeline = create_pipeline(cfg, notes=term_err)  # the decisions reach the terminal
        else:
            pipeline = module.create_pipeline(cfg)
        summary = run_pipeline(pipeline, runner=args.runner)
    print(summary)
    return 0 if summary.pushed_model else 3


def _own_data_config(args: argparse.Namespace, out: Path):  # noqa: ANN202
    """PipelineConfig for ``mlprod run --data``: a CSV file is linked into OUT/data (ExampleGen reads folders)."""
    import re

    from mlprod.errors import DataError
    from mlprod.io.files import join_uri
    from mlprod.pipelines.tabular import PipelineConfig

    data = Path(args.data).expanduser().resolve()
    extra: dict = {} if args.seed is None else {"seed": args.seed}
    if args.train_steps is not None:
        extra["train_steps"] = args.train_steps
    if getattr(args, "feature_repo", None):  # --data is the entity rows; the features come from the repo
        if not args.features:
            raise ConfigError("--feature-repo needs --features VIEW:FEATURE,... (the feature references to train on).")
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", data.stem).strip("-") or "data"
        store = {"repo": str(Path(args.feature_repo).expanduser().resolve()), "entity_df": str(data),
                 "features": [f.strip() for f in args.features.split(",") if f.strip()]}
        return PipelineConfig(data_root=None, label=args.label, pipeline_root=join_uri(out, "pipeline_root"),
                              metadata_path=join_uri(out, "metadata.sqlite"), model_dir=join_uri(out, "serving_model"),
                              pipeline_name=f"features-{name}", feature_spec=args.spec, feature_store=store, **extra)
    if getattr(args, "features", None):
        raise ConfigError("--features goes with --feature-repo REPO (the Feast repo they come from).")
    if data.is_file():
        if data.suffix.lower() != ".csv":
            raise DataError(f"--data {args.data!r} is not a .csv file; pass a CSV file or a folder of CSV files.")
        root = out / "data"
        root.mkdir(parents=True, exist_ok=True)
        link = root / data.name
        for old in root.iterdir():  # only this CSV: ExampleGen reads every file of the folder
            if old != link or not old.is_symlink() or old.resolve() != data:
                old.unlink()
        if not link.exists():
            link.symlink_to(data)
    elif data.is_dir():
        root = data
    else:
        raise DataError(f"--data {args.data!r} does not exist; pass a CSV file or a folder of CSV files.")
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", data.stem).strip("-") or "data"
    return PipelineConfig(data_root=root, label=args.label, pipeline_root=join_uri(out, "pipeline_root"),
                          metadata_path=join_uri(out, "metadata.sqlite"),
                          model_dir=join_uri(out, "serving_model"), pipeline_name=f"tabular-{name}",
                          feature_spec=args.spec, **extra)


class _quiet:
    """Send everything the run prints (this process's and its Beam workers' stdout and stderr) to ``log``.

    ``log`` None: nothing is redirected (``--verbose``). Yields text streams to the terminal's
    stdout and stderr for mlprod's own lines. On error, the exception's message still reaches the
    terminal (printed after the streams are restored); a failed component adds the log's path.
    """

    def __init__(self, log: Path | None) -> None:
        self.log = log

    def __enter__(self) -> tuple:
        if self.log is None:
            return sys.stdout, sys.stderr
        import logging
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = (os.dup(1), os.dup(2))
        self.fh = open(self.log, "ab")  # noqa: SIM115 - closed in __exit__
        os.dup2(self.fh.fileno(), 1)
        os.dup2(self.fh.fileno(), 2)
        logging.getLogger("apache_beam").setLevel(logging.ERROR)  # also goes to the log; less of it
        self.term = (os.fdopen(os.dup(self.saved[0]), "w", buffering=1),
                     os.fdopen(os.dup(self.saved[1]), "w", buffering=1))
        return self.term

    def __exit__(self, *exc: object) -> None:
        if self.log is None:
            return
        import os

        from mlprod.errors import PipelineError

        sys.stdout.flush()
        sys.stderr.flush()
        for stream in self.term:
            stream.close()
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)
        for fd in self.saved:
            os.close(fd)
        self.fh.close()
        if isinstance(exc[1], PipelineError):
            print(f"mlprod: the run's log: {self.log}", file=sys.stderr)


def _pipeline_module(name: str):  # noqa: ANN202
    import importlib

    if name not in PIPELINES:
        raise ConfigError(f"unknown pipeline {name!r}; choose one of {', '.join(PIPELINES)}.")
    return importlib.import_module(f"mlprod.pipelines.{name}")


def _cmd_compile(args: argparse.Namespace) -> int:
    from mlprod.pipelines.cloud import compile_kubeflow_v2

    module = _pipeline_module(args.pipeline)
    cfg = module.config(args.root, beam_args=[], metadata_path=str(Path(args.output).resolve().parent /
                                                                      f".{args.pipeline}-compile.sqlite"))
    spec = compile_kubeflow_v2(module.create_pipeline(cfg), args.output, image=args.image)
    tasks = sorted(spec["pipelineSpec"]["root"]["dag"]["tasks"])
    print(f"wrote {args.output}: Kubeflow Pipelines V2 spec with {len(tasks)} tasks ({', '.join(tasks)})")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    import pandas as pd

    from mlprod.validation import detect_drift, detect_skew

    fn = detect_drift if args.drift else detect_skew
    print(f"comparing {args.current} with {args.reference} ({'drift' if args.drift else 'skew'}) ...", flush=True)
    result = fn(args.reference, args.current, label=args.label)
    with pd.option_context("display.width", 200, "display.max_colwidth", 100):
        print(result.issues.to_string(index=False) if len(result.issues) else "no issues")
    if args.report:
        print(f"report: {result.save_html(args.report)}")
    return 0 if result.passed else 3


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import pandas as pd

    from mlprod.evaluation import EvalSpec, Threshold, evaluate

    thresholds = {}
    for item in args.threshold or []:
        name, _, value = item.partition(">=")
        if not value:
            raise ConfigError(f"--threshold {item!r}: write METRIC>=VALUE, e.g. sparse_categorical_accuracy>=0.9.")
        thresholds[name.strip()] = Threshold(lower=float(value))
    spec = EvalSpec(label=args.label, model_type=args.model_type,
                    slices=[s for s in (args.slices or "").split(",") if s], thresholds=thresholds,
                    beat_trivial=not args.no_beat_trivial)
    cols = [c for c in (args.feature_columns or "").split(",") if c] or None
    result = evaluate(args.model, args.data, spec, feature_columns=cols, trusted_model=args.trust_model)
    with pd.option_context("display.width", 200):
        print(result.overall().to_string())
        t = result.trivial()
        if t["trivial"] == t["trivial"]:
            verdict = "beats it" if t["beaten"] else "does NOT beat it"
            judged = "" if spec.beat_trivial else " (not judged)"
            print(f"\ntrivial baseline: {t['metric']} {t['trivial']:.4f} for {t['predictor'].rsplit(':', 1)[0]} "
                  f"(from the data's labels); the model: {t['model']:.4f}, {verdict}{judged}")
        for w in result.warnings:
            print(f"warning: {w}")
        print("\nworst slices:")
        print(result.worst_slices().head(10).to_string(index=False))
    if args.report:
        print(f"report: {result.save_html(args.report)}")
    return 0 if result.passed else 3


def _cmd_optimize(args: argparse.Namespace) -> int:
    import numpy as np

    from mlprod._models import load_keras
    from mlprod.errors import DataError
    from mlprod.optimization import OPTIMIZE_PARAMS, optimize
    from mlprod.params import check_params

    max_accuracy_drop = args.max_accuracy_drop
    if args.max_drop is not None:
        if max_accuracy_drop is not None:
            raise ConfigError("give --max-accuracy-drop only (--max-drop, in points, is its deprecated old name).")
        import warnings

        msg = (f"--max-drop is deprecated: use --max-accuracy-drop, a fraction (--max-drop {args.max_drop:g} points "
               f"= --max-accuracy-drop {args.max_drop / 100:g}; converted: /100); the old flag goes in the next release.")
        warnings.warn(msg, DeprecationWarning, stacklevel=2)
        print(f"warning: {msg}", file=sys.stderr)
        max_accuracy_drop = args.max_drop / 100
    max_accuracy_drop = 0.01 if max_accuracy_drop is None else max_accuracy_drop
    check_params("mlprod optimize", {"max_accuracy_drop": max_accuracy_drop}, OPTIMIZE_PARAMS)  # before any work
    try:
        npz = np.load(args.data)
        data = tuple(npz[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    except (OSError, KeyError, ValueError) as e:
        raise DataError(f"--data {args.data!r} must be an .npz with x_train, y_train, x_test, y_test ({e}).") from None
    model = load_keras(args.model, trusted=args.trust_model)
    result = optimize(model, data, args.techniques, max_accuracy_drop=max_accuracy_drop)
    print(result.table.drop(columns=["note"]).to_string(index=False))
    for _, row in result.table[result.table["status"] != "ok"].iterrows():
        print(f"{row['technique']}: {row['status']}: {row['note']}")
    result.save(args.output, report=True)
    print(f"wrote {len(result.models)} models, metrics.csv and report.html to {args.output}; best: {result.best()}")
    return 0 if result.best() else 3


def _cmd_runs(args: argparse.Namespace) -> int:
    import pandas as pd

    from mlprod.pipelines import metadata

    runs, models = metadata.runs(args.metadata), metadata.models(args.metadata)  # errors before any output
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print("runs:")
        print(runs.to_string(index=False))
        print("\nmodels:")
        print(models.to_string(index=False))
    return 0


def _online_features(args: argparse.Namespace) -> Any:
    """``--feature-store REPO --features v:f,...`` as the server's online join (None without them)."""
    if bool(args.feature_store) != bool(args.features):
        raise ConfigError("give --feature-store REPO and --features view:feature,... together.")
    if not args.feature_store:
        return None
    from mlprod.serving.features import OnlineFeatures

    return OnlineFeatures(args.feature_store, args.features, on_missing=args.on_missing_features)


def _cmd_serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    from mlprod.serving import Batching, serve

    if min(args.tensorflow_intra_op_parallelism, args.tensorflow_inter_op_parallelism) < 0:
        raise ConfigError("--tensorflow_intra_op_parallelism and --tensorflow_inter_op_parallelism must be >= 0 "
                          "(0 lets TensorFlow pick).")
    if args.tensorflow_intra_op_parallelism or args.tensorflow_inter_op_parallelism:
        import tensorflow as tf  # before any model loads: TensorFlow fixes its thread pools then

        tf.config.threading.set_intra_op_parallelism_threads(args.tensorflow_intra_op_parallelism)
        tf.config.threading.set_inter_op_parallelism_threads(args.tensorflow_inter_op_parallelism)
    batching = Batching(args.max_batch_size, args.batch_timeout_micros / 1e6, args.num_batch_threads) \
        if args.enable_batching else False
    if (args.model_base_path is None) == (args.model_config_file is None):
        raise ConfigError("give --model_base_path (one model) or --model_config_file (TF Serving's config of "
                          "one or more models).")
    srv = serve(args.model_base_path, model_config_file=args.model_config_file, model_name=args.model_name,
                host=args.host,
                rest_port=args.rest_api_port if args.rest_api_port >= 0 else None,
                grpc_port=args.port if args.port >= 0 else None, batching=batching, log_dir=args.log_dir,
                log_sample_rate=args.log_sample_rate, log_flush_interval_s=args.log_flush_interval,
                poll_s=args.file_system_poll_wait_seconds, feature_store=_online_features(args),
                require_approval=args.require_approval, api_keys_file=args.api_keys_file,
                open_health=not args.protect_health, open_metrics=args.open_metrics, tls_cert=args.tls_cert,
                tls_key=args.tls_key, tls_client_ca=args.tls_client_ca)
    import gc

    # this process only serves: move what loading made (TensorFlow, the model, the web stack:
    # hundreds of thousands of objects) out of the collector's walks. Request-log records that
    # wait for their flush survive young collections, and every full collection then walked that
    # heap: measured, logging cost 20-30% of batched throughput with it, about nothing without it
    gc.collect()
    gc.freeze()
    # the REST thread runs Python almost without pause; a batch thread coming back from TensorFlow
    # (which computes without the GIL) waits up to the switch interval (5 ms by default) to hold
    # the GIL again, several times per batch. 1 ms shortens that wait: measured +10% batched
    # throughput at 32 clients (median of 5 rounds, 4,905 vs 4,453 req/s)
    sys.setswitchinterval(0.001)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    what = ", ".join(f"{n!r} version {m.versions.default} from {m.cfg.base_path}" for n, m in srv.models.items())
    print(f"serving {what}: REST {srv.rest_url or '-'}, gRPC {srv.grpc_target or '-'}", flush=True)
    print(srv.access_note(), flush=True)
    while not stop.wait(0.5):
        pass
    print("draining: finishing in-flight requests and writing the request log ...", flush=True)
    srv.stop()
    print("stopped", flush=True)
    return 0


DEFAULT_TRACKING = "mlprod-output/pipeline_root/mlflow.db"


def _tracking_uri(args: argparse.Namespace) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else the store `mlprod run` writes (which must exist)."""
    import os

    uri = getattr(args, "tracking_uri", None) or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    if not Path(DEFAULT_TRACKING).is_file():
        raise ConfigError(f"no MLflow store at {DEFAULT_TRACKING} (where `mlprod run` keeps it); pass --tracking-uri "
                          "sqlite:///OUTPUT/pipeline_root/mlflow.db or a server's URL, or set MLFLOW_TRACKING_URI.")
    return f"sqlite:///{Path(DEFAULT_TRACKING).resolve()}"


def _cmd_serve_keys(args: argparse.Namespace) -> int:
    from mlprod.serving.access import add_key, list_keys, remove_key

    if args.action == "add":
        if not args.name or not args.models:
            raise ConfigError("serve-keys add needs --name NAME and --models a,b (or '*').")
        key = add_key(args.keys_file, args.name, args.models, expires=args.expires)
        print(f"added API key {args.name!r} to {args.keys_file} (running servers pick it up within a second).\n"
              "The key (shown once; the file keeps only its hash):", file=sys.stderr)
        print(key, flush=True)
    elif args.action == "remove":
        if not args.name:
            raise ConfigError("serve-keys remove needs --name NAME (or the key's id).")
        remove_key(args.keys_file, args.name)
        print(f"removed API key {args.name!r} from {args.keys_file}; running servers refuse it within a second.")
    else:
        print(list_keys(args.keys_file).to_string(index=False))
    return 0


def _cmd_registry(args: argparse.Namespace) -> int:
    import pandas as pd

    if args.action in ("approve", "rollback"):
        from mlprod import tracking

        uri = _tracking_uri(args)
        if args.action == "approve":
            a = tracking.approve(args.name, args.version, note=args.note, by=args.by, tracking_uri=uri)
            what = f"approved {a['name']} version {a['version']}"
        else:
            a = tracking.rollback(args.name, note=args.note or "", by=args.by, tracking_uri=uri)
            what = f"rolled {a['name']} back from version {a['previous']} to version {a['version']}"
        print(f"{what} (folder {a['serving_version']} of {a['model_dir']}; by {a['by']} at {a['at']}: {a['note']}); "
              "servers started with --require-approval serve it at their next poll")
        return 0
    from mlprod.pipelines.registry import registry

    table = registry(args.metadata, args.model_dir, tracking_uri=getattr(args, "tracking_uri", None))
    with pd.option_context("display.width", 220, "display.max_colwidth", 60):
        print(table.drop(columns=["uri", "metrics"]).to_string(index=False) if len(table) else "no models recorded yet")
    return 0


def _split(text: str | None) -> list[str] | None:
    return [w.strip() for w in text.split(",") if w.strip()] if text else None


def _window(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _cmd_monitor(args: argparse.Namespace) -> int:
    import pandas as pd

    from mlprod.monitoring import monitor

    r = monitor(args.log_dir, args.reference, label=args.label, window=_window(args.window), against=args.against,
                period=args.period,
                features=_split(args.features), time_column=args.time_column, time_unit=args.time_unit,
                max_accuracy_drop=args.max_accuracy_drop)
    with pd.option_context("display.width", 200):
        print(f"{len(r.windows)} windows, {len(r.alerts)} alerts")
        if len(r.alerts):
            print(r.alerts[["window", "start", "metric", "feature", "value", "threshold"]].to_string(index=False))
    if args.report:
        print(f"report: {r.save_html(args.report)}")
    return 3 if args.fail_on_alert and len(r.alerts) else 0


def _cmd_retrain_if(args: argparse.Namespace) -> int:
    from mlprod.io.files import join_uri
    from mlprod.monitoring import RetrainPolicy
    from mlprod.pipelines.retrain import retrain_if
    from mlprod.pipelines.tabular import PipelineConfig

    features = _split(args.drift_features)
    policy = RetrainPolicy(drift_features=tuple(features) if features is not None else None,
                           on_skew=args.on_skew, on_decay=not args.no_decay,
                           on_estimated_decay=not (args.no_decay or args.no_estimated_decay),
                           max_age=args.max_age, last_windows=args.last_windows, span_windows=args.span_windows,
                           min_labelled_rows=args.min_labelled_rows)
    config = PipelineConfig(data_root=args.data_root, label=args.label, span_pattern=args.span_pattern,
                            pipeline_root=join_uri(args.output, "pipeline_root"),
                            metadata_path=join_uri(args.output, "metadata.sqlite"),
                            model_dir=args.model_dir or join_uri(args.output, "serving_model"),
                            pipeline_name=args.pipeline_name, min_accuracy=args.min_accuracy)
    out = retrain_if(args.log_dir, config, policy, label=args.label, window=_window(args.window),
                     features=_split(args.features), time_column=args.time_column, time_unit=args.time_unit,
                     dry_run=args.dry_run)
    print("retrain: " + ("yes" if out.decision else "no") + (" (dry run)" if args.dry_run else ""))
    for reason in out.decision.reasons:
        print(f"  - {reason}")
    if out.note:
        print(f"not retrained: {out.note}")
    if out.run is not None:
        print(f"span {out.span} ({out.span_rows} labelled requests) -> {out.run}")
        return 0 if out.pushed else 3
    return 0


def _cmd_rollback(args: argparse.Namespace) -> int:
    import os

    from mlprod.alerts import MODEL_ROLLED_BACK, emit
    from mlprod.serving import list_versions, write_pin
    from mlprod.serving.versions import read_pin_state, serving_version

    if (args.version is None) == (not args.unpin):
        raise ConfigError("give a VERSION to roll back to, or --unpin (not both).")
    before = serving_version(args.model_base_path)
    write_pin(args.model_base_path, None if args.unpin else args.version)
    if not args.unpin:
        name = os.path.basename(os.path.normpath(args.model_base_path))
        emit(MODEL_ROLLED_BACK, f"model/{name}/{args.version}",
             details={"model_dir": args.model_base_path, "from_version": before, "to_version": args.version,
                      "by": os.environ.get("USER", "")},
             key=f"{MODEL_ROLLED_BACK}:{name}:{before}->{args.version}")
    what = "the newest version (policy)" if args.unpin else f"version {args.version}"
    print(f"{args.model_base_path}: servers now serve {what}; versions on disk {list_versions(args.model_base_path)}")
    approval = read_pin_state(args.model_base_path)["approval"]
    if approval is not None:
        print(f"note: servers started with --require-approval keep serving the approved version {approval['version']}; "
              f"move the approval with `mlprod registry rollback {approval.get('model', 'NAME')}` or `mlprod registry "
              "approve NAME VERSION --note ...`.")
    return 0


def _cmd_alerts(args: argparse.Namespace) -> int:
    from mlprod import alerts

    if args.alerts_command == "rules":
        text = alerts.rules(args.out)
        print(f"wrote {args.out} (Prometheus rule file: rule_files: [...])" if args.out else text, end="" if
              not args.out else "\n")
        return 0
    a = alerts.current()
    if a is None:
        raise ConfigError("alerts are not configured: pass --alerts alerts.yaml, or set MLPROD_ALERTS_CONFIG, "
                          "MLPROD_ALERTS_WEBHOOK or MLPROD_ALERTS_LOG.")
    if args.alerts_command == "send":
        details = dict(kv.split("=", 1) for kv in args.detail or [])
        event = a.emit(args.kind, args.subject, details=details, severity=args.severity or "")
        print(f"queued {event.id} ({event.key})" if event else "not sent: a repeat within the dedup window "
              "or below min_severity")
    left = a.flush(args.timeout)
    for sink, counts in sorted(a.outbox.counts().items()):
        print(f"{sink}: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    if left:
        print(f"{left} deliveries still pending (receiver down?); they stay in {a.outbox.path} and are retried by "
              "the next sender or `mlprod alerts flush`.")
    return 3 if left else 0


class _Renamed(argparse.Action):
    """An old flag that still works for one release: stores into the new flag's dest and says so on stderr."""

    def __init__(self, option_strings: list[str], dest: str, new: str = "", **kw: object) -> None:
        self.new = new
        super().__init__(option_strings, dest, help=f"deprecated: use {new}", **kw)  # type: ignore[arg-type]

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        print(f"{parser.prog}: {option_string} is deprecated: use {self.new} (the old flag goes in the next "
              "release).", file=sys.stderr)
        setattr(namespace, self.dest, values)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and for docs)."""
    p = argparse.ArgumentParser(prog="mlprod", description="Composable TFX components, from experiment "
                                "to production.")
    p.add_argument("--version", action="version", version=f"mlprod {__version__}")
    p.add_argument("--verbose", action="store_true", help="show full tracebacks on errors")
    p.add_argument("--alerts", metavar="ALERTS_YAML", help="send lifecycle events as this file says (default: "
                   "$MLPROD_ALERTS_CONFIG, $MLPROD_ALERTS_WEBHOOK, $MLPROD_ALERTS_LOG; none: no alerts)")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run an example pipeline, or the tabular pipeline on your own CSV "
                                     "(--data, --label), end to end")
    run.add_argument("pipeline", nargs="?", help=f"one of: {', '.join(PIPELINES)} (or give --data)")
    run.add_argument("--data", help="your own training data: a CSV file or a folder of CSV files with one header")
    run.add_argument("--label", help="with --data: the class column (integer ids or text)")
    run.add_argument("--spec", help="with --data: a feature spec YAML (default: inferred per column, printed and "
                                    "saved as OUTPUT/pipeline_root/feature_spec.yaml to edit)")
    run.add_argument("--seed", type=int, help="with --data: the Trainer's random seed (default 0)")
    run.add_argument("--train-steps", type=int, help="with --data: training steps (default 300)")
    run.add_argument("--feature-repo", help="with --data: a Feast feature repo; --data is then the entity rows "
                     "(Parquet/CSV: entity key, event_timestamp, label) and the features are read point-in-time")
    run.add_argument("--features", help="with --feature-repo: feature references, e.g. area_daily:mean_fare,area_daily:trips")
    run.add_argument("--runner", default="local", choices=["local", "beam"],
                     help="TFX LocalDagRunner or BeamDagRunner (default: local)")
    run.add_argument("--output", default="mlprod-output", help="folder for artifacts and metadata")
    run.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                     help="show the components' and Beam workers' logs (default: written to OUTPUT/run.log)")
    run.set_defaults(func=_cmd_run)

    comp = sub.add_parser("compile", help="compile an example pipeline for Vertex AI / Kubeflow Pipelines V2")
    comp.add_argument("pipeline", help=f"one of: {', '.join(PIPELINES)}")
    comp.add_argument("--image", required=True, help="container image the tasks run in")
    comp.add_argument("--root", required=True, help="pipeline root on cloud storage, e.g. gs://bucket/run")
    comp.add_argument("--output", default="pipeline.json", help="where to write the JSON spec")
    comp.set_defaults(func=_cmd_compile)

    val = sub.add_parser("validate", help="skew (or --drift) report of CURRENT data against REFERENCE data")
    val.add_argument("reference", help="the data compared against (training data, or the previous span with "
                     "--drift): CSV, TFRecord or folder")
    val.add_argument("current", help="the data checked (serving data, or the current span)")
    val.add_argument("--label", help="label column (absent from serving data)")
    val.add_argument("--drift", action="store_true", help="span-to-span drift instead of training/serving skew")
    val.add_argument("--report", help="write the HTML report here")
    val.set_defaults(func=_cmd_validate)

    ev = sub.add_parser("evaluate", help="sliced evaluation of a model on labelled data (TFMA)")
    ev.add_argument("model", help="SavedModel folder (raw-example signature), .tflite or Keras .h5")
    ev.add_argument("data", help="labelled CSV")
    ev.add_argument("--label", required=True)
    ev.add_argument("--model-type", default="classification", choices=["classification", "binary", "regression"])
    ev.add_argument("--slices", help="comma-separated slice features")
    ev.add_argument("--feature-columns", help="comma-separated input columns for .tflite/Keras models")
    ev.add_argument("--threshold", action="append", help="METRIC>=VALUE (repeatable); exit 3 when broken")
    ev.add_argument("--no-beat-trivial", action="store_true",
                    help="still report the trivial baseline (most common class / mean label), but do not exit 3 "
                         "when the model does not beat it")
    ev.add_argument("--report", help="write the HTML report here")
    ev.add_argument("--trust-model", action="store_true",
                    help="load a Keras file even if it holds Lambda layers (their Python code runs)")
    ev.set_defaults(func=_cmd_evaluate)

    op = sub.add_parser("optimize", help="quantize/prune a tf_keras model to TFLite and measure it")
    op.add_argument("model", help="tf_keras model (.h5 or SavedModel folder)")
    op.add_argument("--data", required=True, help=".npz with x_train, y_train, x_test, y_test")
    op.add_argument("--techniques", default="float,dynamic,int8,qat,prune_int8")
    op.add_argument("--max-accuracy-drop", type=float, default=None,
                    help="accuracy a model may lose vs Keras, a fraction (default 0.01: one point); in metrics.csv "
                         "accuracy_drop is a fraction too")
    op.add_argument("--max-drop", type=float, default=None, help="deprecated: --max-accuracy-drop in points")
    op.add_argument("--output", default="tflite-models", help="folder for .tflite files and metrics")
    op.add_argument("--trust-model", action="store_true",
                    help="load a Keras file even if it holds Lambda layers (their Python code runs)")
    op.set_defaults(func=_cmd_optimize)

    runs = sub.add_parser("runs", help="list runs and models recorded in an ML Metadata store")
    runs.add_argument("--metadata", default="mlprod-output/metadata.sqlite",
                      help="SQLite ML Metadata store (default: mlprod-output/metadata.sqlite)")
    runs.set_defaults(func=_cmd_runs)

    sv = sub.add_parser("serve", help="serve a Pusher folder with TF Serving's REST and gRPC APIs (drains on SIGTERM)")
    sv.add_argument("--model_base_path", help="folder of numbered version folders (Pusher output)")
    sv.add_argument("--model_config_file", help="TF Serving's model config (ModelServerConfig text proto): several "
                                                "models, version policies latest/all/specific, version_labels")
    sv.add_argument("--model_name", default="model", help="name in /v1/models/NAME (default: model)")
    sv.add_argument("--port", type=int, default=8500, help="gRPC port (TF Serving's flag; -1 disables; 0 any free)")
    sv.add_argument("--rest_api_port", type=int, default=8501, help="REST port (-1 disables; 0 any free)")
    sv.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: all)")
    sv.add_argument("--enable_batching", action="store_true", help="dynamic request batching")
    sv.add_argument("--max_batch_size", type=int, default=32)
    sv.add_argument("--batch_timeout_micros", type=int, default=2000)
    sv.add_argument("--num_batch_threads", type=int, default=2)
    sv.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0,
                    help="how often the base folder is scanned for new versions")
    sv.add_argument("--require-approval", action="store_true",
                    help="serve only the version the model registry approved (mlprod registry approve); its "
                         "aliases (candidate) answer under /labels/ALIAS")
    sv.add_argument("--log_dir", help="append every request and prediction here (TFRecords per day)")
    sv.add_argument("--log_sample_rate", type=float, default=1.0)
    sv.add_argument("--log_flush_interval", type=float, default=1.0,
                    help="seconds between log writes: at most this much is lost on SIGKILL")
    sv.add_argument("--tensorflow_intra_op_parallelism", type=int, default=0,
                    help="threads one TensorFlow op may use (TF Serving's flag; 0: TensorFlow picks)")
    sv.add_argument("--tensorflow_inter_op_parallelism", type=int, default=0,
                    help="TensorFlow ops run at once (TF Serving's flag; 0: TensorFlow picks)")
    sv.add_argument("--feature-store", help="a feature repo (mlprod.features): requests carry entity keys, the "
                                            "server adds --features from its online store")
    sv.add_argument("--features", help="feature references view:feature,... read from --feature-store")
    sv.add_argument("--on-missing-features", choices=["error", "absent"], default="error",
                    help="an entity without current values: a 400 (error, default) or the model's default (absent)")
    sv.add_argument("--api_keys_file", help="require API keys (Authorization: Bearer KEY) from this file "
                                            "(`mlprod serve-keys add`); re-read when it changes. Default: no keys")
    sv.add_argument("--protect_health", action="store_true",
                    help="with --api_keys_file: /healthz needs a key too (default: open, status only)")
    sv.add_argument("--open_metrics", action="store_true",
                    help="with --api_keys_file: metrics answer without a key (default: a key for every model)")
    sv.add_argument("--tls_cert", help="PEM certificate (chain): REST over HTTPS and gRPC over TLS")
    sv.add_argument("--tls_key", help="PEM private key of --tls_cert")
    sv.add_argument("--tls_client_ca", help="PEM CA: clients must present a certificate it signed (mutual TLS)")
    sv.set_defaults(func=_cmd_serve)

    sk = sub.add_parser("serve-keys", help="add, list or remove the API keys of `mlprod serve --api_keys_file`")
    sk.add_argument("action", choices=("add", "list", "remove"))
    sk.add_argument("keys_file", help="the keys file (JSON of hashed keys; made by the first add)")
    sk.add_argument("--name", help="who holds the key (add, remove)")
    sk.add_argument("--models", help="comma-separated model names the key may call, or '*' for every model (add)")
    sk.add_argument("--expires", help="a duration (30D, 12h) or an ISO date after which the key is refused (add)")
    sk.set_defaults(func=_cmd_serve_keys)

    rg = sub.add_parser("registry", help="every trained model with its stage (serving, rolled back, retired, "
                                         "blessed, rejected), accuracy and training spans")
    rg.add_argument("--metadata", default="mlprod-output/metadata.sqlite", help="SQLite ML Metadata store")
    rg.add_argument("--model-dir", "--serving-dir", dest="model_dir",
                    help="the Pusher folder servers watch (tells serving / rolled back; --serving-dir: the old name)")
    tracking_help = (f"the MLflow store (default: MLFLOW_TRACKING_URI, else sqlite:///{DEFAULT_TRACKING}, where "
                     "`mlprod run` keeps it)")
    rg.add_argument("--tracking-uri", help=tracking_help)
    rg.set_defaults(func=_cmd_registry, action=None)
    rg_sub = rg.add_subparsers(dest="action", required=False)
    ap = rg_sub.add_parser("approve", help="approve a registered version for release: alias 'champion', who/when/why "
                                           "recorded; --require-approval servers serve it next")
    ap.add_argument("name", help="the registered model (the pipeline's name)")
    ap.add_argument("version", type=int, help="its registered version number (mlprod registry lists them)")
    ap.add_argument("--note", required=True, help="why it is approved (recorded on the version)")
    ap.add_argument("--by", help="who approves (default: the login name)")
    ap.add_argument("--tracking-uri", help=tracking_help)
    rb_reg = rg_sub.add_parser("rollback", help="move 'champion' back to the version approved before")
    rb_reg.add_argument("name", help="the registered model")
    rb_reg.add_argument("--note", help="why (recorded on the version rolled back)")
    rb_reg.add_argument("--by", help="who (default: the login name)")
    rb_reg.add_argument("--tracking-uri", help=tracking_help)

    def monitoring_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("log_dir", help="the server's request-log folder (mlprod serve --log_dir)")
        q.add_argument("--label", default="label", help="ground-truth column joined from feedback")
        q.add_argument("--window", default="1D", help="rows per window (a number) or a pandas frequency (1D, 6h)")
        q.add_argument("--features", help="comma-separated features to check (default: all logged)")
        q.add_argument("--time-column", default="_timestamp_ms", help="time of each request (default: arrival)")
        q.add_argument("--time-unit", default="ms", help="unit of a numeric time column (ms, s)")

    mo = sub.add_parser("monitor", help="skew, drift, measured and estimated accuracy per window of a request log")
    monitoring_args(mo)
    mo.add_argument("--reference", help="training data (CSV) for skew")
    mo.add_argument("--baseline", dest="reference", action=_Renamed, new="--reference")
    mo.add_argument("--against", choices=("training", "previous_cycle", "rolling"), default="training",
                    help="what each window is held to: the training data (default), the same span one "
                         "--period earlier (seasonal data), or the previous windows")
    mo.add_argument("--period", default=None, help="the cycle for --against previous_cycle (default 1Y)")
    mo.add_argument("--max-accuracy-drop", type=float, default=0.05)
    mo.add_argument("--report", help="write the HTML report here")
    mo.add_argument("--html", dest="report", action=_Renamed, new="--report")
    mo.add_argument("--fail-on-alert", action="store_true", help="exit 3 when any window alerts")
    mo.set_defaults(func=_cmd_monitor)

    rt = sub.add_parser("retrain-if", help="monitor a request log; when the policy fires, train on a new span "
                                           "and push only a model the Evaluator blesses")
    monitoring_args(rt)
    rt.add_argument("--data-root", required=True, help="the pipeline's data folder (spans live here)")
    rt.add_argument("--span-pattern", default="span-{SPAN}/*.csv", help="TFX span pattern under --data-root")
    rt.add_argument("--output", required=True, help="pipeline root and metadata store (as for `mlprod run`)")
    rt.add_argument("--model-dir", "--serving-dir", dest="model_dir",
                    help="the Pusher folder servers watch (default: OUTPUT/serving_model; --serving-dir: the old name)")
    rt.add_argument("--pipeline-name", default="mlprod-tabular")
    rt.add_argument("--min-accuracy", type=float, default=None,
                    help="absolute accuracy bound for blessing (default: none; the model must beat the most "
                         "common class and stay within 1 point of the serving model)")
    rt.add_argument("--drift-features", help="comma-separated features whose drift fires (default: any)")
    rt.add_argument("--no-decay", action="store_true", help="measured/estimated accuracy alerts do not fire")
    rt.add_argument("--no-estimated-decay", action="store_true",
                    help="estimated accuracy alerts (before labels arrive) do not fire")
    rt.add_argument("--on-skew", action="store_true",
                    help="skew against the newest training span fires too")
    rt.add_argument("--max-age", help="retrain a serving model older than this (e.g. 30D)")
    rt.add_argument("--last-windows", type=int, default=2, help="newest windows the decision reads")
    rt.add_argument("--span-windows", type=int, default=3,
                    help="without a window alert (staleness): the newest labelled windows the new span takes")
    rt.add_argument("--min-labelled-rows", type=int, default=100)
    rt.add_argument("--dry-run", action="store_true", help="decide and report only")
    rt.set_defaults(func=_cmd_retrain_if)

    rb = sub.add_parser("rollback", help="make every server of MODEL_BASE_PATH serve VERSION (or --unpin)")
    rb.add_argument("model_base_path")
    rb.add_argument("version", type=int, nargs="?")
    rb.add_argument("--unpin", action="store_true", help="back to serving the newest version")
    rb.set_defaults(func=_cmd_rollback)

    al = sub.add_parser("alerts", help="lifecycle alerts: Prometheus rules for the server, send a test event, "
                                       "flush the outbox")
    al_sub = al.add_subparsers(dest="alerts_command", required=True)
    ar = al_sub.add_parser("rules", help="print (or --out: write) the Prometheus alert rules for the server's metrics")
    ar.add_argument("--out", help="write the rule file here")
    af = al_sub.add_parser("flush", help="deliver what the outbox holds; print each sink's counts (exit 3: some pending)")
    af.add_argument("--timeout", type=float, default=30.0, help="seconds to keep retrying (default 30)")
    asend = al_sub.add_parser("send", help="send one event (e.g. to test a webhook), then flush")
    asend.add_argument("kind", help="an event kind: run_finished, model_approved, drift_alarm, ...")
    asend.add_argument("subject", help="what it is about, e.g. model/penguin/3")
    asend.add_argument("--detail", action="append", metavar="KEY=VALUE", help="a detail (repeatable)")
    asend.add_argument("--severity", choices=("info", "warning", "error"))
    asend.add_argument("--timeout", type=float, default=30.0, help="seconds to keep retrying (default 30)")
    al.set_defaults(func=_cmd_alerts)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mlprod`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        if args.alerts:
            from mlprod.alerts import configure

            configure(args.alerts)
        return func(args)
    except MlprodError as e:
        if args.verbose:
            traceback.print_exc()
        print(f"mlprod: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover
        print("mlprod: interrupted; rerun the same command to resume (cached steps are reused).",
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
