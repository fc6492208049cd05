"""``evaluate(model, data, spec)``: sliced metrics, fairness and thresholds with TFMA on Beam.

Models:
* a SavedModel folder whose ``serving_default`` signature takes serialized ``tf.Example``s
  (what TFX's Trainer exports) — TFMA runs the model itself;
* a Keras model (tf_keras or Keras 3) or a ``.tflite`` file — mlprod computes predictions
  (TFLite on the real interpreter) and TFMA evaluates them model-agnostically, so the
  numbers come from the same TFMA metric code either way.

Example:
    (Needs a pipeline or a run's outputs; tests/evaluation/test_evaluate.py runs this path.)
    >>> import mlprod
    >>> from mlprod.evaluation import EvalSpec
    >>> result = mlprod.evaluate("serving_model/1700000000", df,
    ...                          EvalSpec(label="species", slices=["island"]))   # doctest: +SKIP
    >>> result.table.head()                                                       # doctest: +SKIP
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlprod._compat import renamed
from mlprod.errors import ConfigError, DataError
from mlprod.evaluation.result import EvalResult, judge_table, parse_results
from mlprod.evaluation.spec import Buckets, EvalSpec
from mlprod.io.files import file_pattern, files_kind, join_uri, list_files
from mlprod.io.frames import check_tfrecords, load_frame, read_sample

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

PRED, BASE_PRED = "__prediction", "__baseline_prediction"
log = logging.getLogger("mlprod.evaluation")


def _add_buckets(df: "pd.DataFrame", spec: EvalSpec) -> "pd.DataFrame":
    import pandas as pd

    for s in [*spec.slices, *spec.fairness]:
        if isinstance(s, Buckets):
            idx = np.searchsorted(np.asarray(s.boundaries, dtype=float), df[s.feature].to_numpy(float), side="right")
            labels = np.asarray(s.labels(), dtype=object)[idx]
            df[s.column] = pd.Series(labels).where(df[s.feature].notna().to_numpy(), None)
    return df


def _check(df: "pd.DataFrame", spec: EvalSpec) -> None:
    if spec.label not in df.columns:
        raise DataError(f"label {spec.label!r} is not in the data (columns: {list(df.columns)}); "
                        "pass labelled examples or fix EvalSpec(label=...).")
    if df[spec.label].isna().all():
        raise DataError(f"label {spec.label!r} is empty in every row; evaluation needs labels.")
    missing = [c for c in spec.source_features() if c not in df.columns]
    if missing:
        raise DataError(f"slice feature(s) {missing} are not in the data (columns: {list(df.columns)}); "
                        "fix EvalSpec(slices=..., fairness=...).")
    _check_label(df[spec.label].dropna(), spec)


def _check_label(y: "pd.Series", spec: EvalSpec) -> None:
    """Labels TFMA can compare with the model's output: numbers; class ids 0..K-1; 0/1 for binary."""
    import pandas as pd

    name = f"label {spec.label!r}"
    if not pd.api.types.is_numeric_dtype(y):
        try:
            y = pd.to_numeric(y)
        except (TypeError, ValueError):
            examples = ", ".join(repr(v) for v in list(dict.fromkeys(y.astype(str)))[:3])
            kind = "numbers" if spec.model_type == "regression" else "integer class ids 0..K-1"
            fix = ("" if spec.model_type == "regression" else
                   f" in the order of the model's outputs, e.g. df[{spec.label!r}] = "
                   f"df[{spec.label!r}].map({{name: id, ...}})")
            raise DataError(f"{name} holds text ({examples}); a {spec.model_type} evaluation needs {kind}: map the "
                            f"labels to them first{fix}. The model's inputs are not the problem.") from None
    if spec.model_type == "regression":
        return
    values = y.to_numpy(dtype=float)
    if ((values != np.round(values)) | (values < 0)).any():
        bad = sorted({float(v) for v in values[(values != np.round(values)) | (values < 0)]})[:3]
        raise DataError(f"{name} holds {bad}, not class ids 0..K-1; a {spec.model_type} evaluation needs integer "
                        "labels (use model_type='regression' for continuous targets).")
    classes = sorted({int(v) for v in values})
    if spec.model_type == "binary" and classes and classes[-1] > 1:
        shown = classes if len(classes) <= 10 else [*classes[:10], "..."]
        raise DataError(f"{name} has {len(classes)} classes ({shown}), but model_type='binary' needs 0/1 labels; "
                        "use EvalSpec(model_type='classification') for a model with one output per class.")


def _records_location(data: Any, kind: str, spec: EvalSpec, compare: bool) -> tuple[str, list[str]] | None:
    """The file pattern TFMA's workers can read ``data`` from directly and the files it matches, or
    None (then the data goes via pandas).

    That is: ``tf.Example`` TFRecord file(s) named by one path, glob or folder, evaluated with a
    SavedModel (TFMA runs it on the workers) or on the predictions the files hold (``model=None``,
    no baseline or change threshold: those are merged in pandas), and no :class:`Buckets` slices
    (computed in pandas).
    """
    if not isinstance(data, (str, Path)) or not (kind == "saved_model" or (kind == "predictions" and not compare)):
        return None
    if any(isinstance(s, Buckets) for s in [*spec.slices, *spec.fairness]):
        return None
    files = list_files(data)
    if files_kind(files, "evaluation data") != "tfrecord":
        return None
    check_tfrecords(files)
    pattern = file_pattern(data, files)
    return (pattern, files) if pattern else None


def _model_kind(model: Any) -> str:
    if model is None:
        return "predictions"
    if isinstance(model, (str, Path)):
        p = Path(model)
        if p.suffix == ".tflite" and p.is_file():
            return "tflite"
        if (p / "saved_model.pb").is_file():
            return "saved_model"
        raise ConfigError(f"{str(p)!r} is neither a SavedModel folder (with saved_model.pb) nor a .tflite file.")
    if hasattr(model, "predict") and hasattr(model, "inputs"):
        return "keras"
    raise ConfigError(f"cannot evaluate a {type(model).__name__}; pass a SavedModel path, a .tflite path or a "
                      "Keras model.")


def _inputs(df: "pd.DataFrame", names: list[str], feature_columns: list[str] | None, label: str) -> Any:
    """Model inputs from columns: named inputs by name, else one matrix of ``feature_columns``."""
    if len(names) > 1 or (names and names[0] in df.columns):
        missing = [n for n in names if n not in df.columns]
        if missing:
            raise DataError(f"the model's inputs {missing} are not columns of the data; rename them.")
        return {n: df[n].to_numpy(np.float32).reshape(-1, 1) for n in names}
    cols = feature_columns or [c for c in df.columns if c != label and np.issubdtype(df[c].dtype, np.number)]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"feature_columns {missing} are not columns of the data (columns: {list(df.columns)}); "
                        "fix feature_columns=[...] (the model's input columns, in order).")
    if not cols:
        raise DataError("no numeric feature columns to feed the model; pass feature_columns=[...].")
    return np.stack([np.stack(df[c].to_numpy()) if df[c].dtype == object else df[c].to_numpy(np.float32)
                     for c in cols], axis=1).reshape(len(df), -1).astype(np.float32)


def predict(model: Any, df: "pd.DataFrame", *, feature_columns: list[str] | None = None,
            label: str = "") -> np.ndarray:
    """Predictions of a Keras model or a ``.tflite`` file (TFLite interpreter) on ``df``.

    Example:
        >>> import tensorflow as tf
        >>> _ = open("penguin.tflite", "wb").write(tf.lite.TFLiteConverter.from_keras_model(keras_model).convert())
        >>> predict("penguin.tflite", df, feature_columns=features).shape
        (334, 3)
    """
    kind = _model_kind(model)
    if kind == "keras":
        names = [t.name.split(":")[0] for t in model.inputs]
        try:
            out = model.predict(_inputs(df, names, feature_columns, label), verbose=0, batch_size=256)
        except (ValueError, TypeError) as e:
            raise DataError(f"the Keras model does not accept the data's columns: {str(e)[:300]}") from None
        return np.asarray(out)
    from mlprod._tflite import run_tflite

    return run_tflite(str(model), _inputs(df, [], feature_columns, label))


def _check_signature(path: str, spec: EvalSpec) -> None:
    import tensorflow as tf

    sigs = tf.saved_model.load(path).signatures
    if spec.signature not in sigs:
        raise ConfigError(f"SavedModel {path} has no signature {spec.signature!r} (it has {list(sigs)}); "
                          "set EvalSpec(signature=...).")
    args = sigs[spec.signature].structured_input_signature[1]
    if not any(getattr(v, "dtype", None) == tf.string for v in args.values()):
        raise ConfigError(f"signature {spec.signature!r} of {path} takes {list(args)}, not serialized "
                          "tf.Examples; export a raw-example serving signature (as TFX's Trainer does).")


@renamed(baseline="baseline_model")
def evaluate(model: Any, data: Any, spec: EvalSpec, *, baseline_model: Any = None,
             feature_columns: list[str] | None = None, beam_args: list[str] | None = None,
             output_dir: str | Path | None = None, trusted_model: bool = False,
             engine: str = "vectorized") -> EvalResult:
    """Evaluate ``model`` on ``data`` per ``spec``: metrics per slice, fairness gaps, thresholds.

    Args:
        model: SavedModel folder (raw-example signature), Keras model, ``.tflite`` path, or
            ``None`` to evaluate predictions stored in the column ``spec.prediction_key``.
        data: labelled DataFrame, or CSV or TFRecord (``tf.Example``) path(s). TFRecord files named by
            one path, glob or folder are read by TFMA on the Beam workers (the driver checks a
            1,000-row sample) when the model is a SavedModel, or with ``model=None`` (predictions
            stored in the files) without a baseline; everything else goes through pandas.
        spec: an :class:`EvalSpec`, or a ``tfma.EvalConfig`` for power users.
        baseline_model: optional model of the same kind to compare with (change thresholds;
            ``baseline=`` is its old name, for one release).
        feature_columns: for Keras/TFLite models with one matrix input, its columns in order.
        beam_args: Beam pipeline args (DirectRunner by default; any runner).
        output_dir: keep TFMA's output here (``result.output_dir``; default: a temporary folder,
            removed afterwards, and ``result.output_dir`` is None).
        trusted_model: load a Keras ``.h5``/``.keras`` file even when it holds Lambda layers
            (their Python code runs); off by default.
        engine: ``"vectorized"`` (default: TFMA's metric definitions computed with numpy per batch,
            :mod:`mlprod.evaluation.vectorized`, 30-100x TFMA's throughput, TFMA's output format) or
            ``"tfma"`` (``tfma.run_model_analysis`` itself). Both give the same values (to 1e-6;
            AUC included: the same histogram and threshold grid).

    The result also holds the trivial baseline (always predicting the most common class, or the
    mean label, on the same labels: :meth:`EvalResult.trivial`); by default the model must beat it
    (``EvalSpec(beat_trivial=...)``). Both are logged to ``mlprod.evaluation``, with a warning
    (also in :attr:`EvalResult.warnings`) when the model does not beat it.

    Raises:
        DataError: empty data, label or slice feature missing, a text label or labels that are not
            class ids (more than 0/1 for ``model_type="binary"``), ``feature_columns`` not in the
            data, model rejects the data.
        ConfigError: unknown model kind, signature that does not take examples.

    Example:
        >>> from mlprod.evaluation import EvalSpec, Threshold
        >>> r = evaluate(keras_model, df, EvalSpec(label="species", slices=["species"],
        ...              thresholds={"sparse_categorical_accuracy": Threshold(lower=0.9)}),
        ...              feature_columns=features)
        >>> r.passed, list(r.worst_slices()["slice"].str.startswith("species="))
        (True, [True, True, True])
    """
    if engine not in ENGINES:
        raise ConfigError(f"engine={engine!r}; choose one of {ENGINES}.")
    return _noted(_evaluate(model, data, spec, baseline=baseline_model, feature_columns=feature_columns,
                            beam_args=beam_args, output_dir=output_dir, trusted_model=trusted_model,
                            engine=engine))


ENGINES = ("vectorized", "tfma")


def _evaluate(model: Any, data: Any, spec: EvalSpec, *, baseline: Any = None,
              feature_columns: list[str] | None = None, beam_args: list[str] | None = None,
              output_dir: str | Path | None = None, trusted_model: bool = False,
              engine: str = "vectorized") -> EvalResult:
    """:func:`evaluate` without the notes it logs (it calls itself for candidate and baseline)."""
    import tensorflow_model_analysis as tfma

    from mlprod.beam import pipeline_options, scratch_location
    from mlprod.io.examples import write_tfrecord

    raw_config = None
    if not isinstance(spec, EvalSpec):
        if type(spec).__name__ != "EvalConfig":
            raise ConfigError(f"spec must be an mlprod EvalSpec or a tfma.EvalConfig, not {type(spec).__name__}.")
        raw_config = spec
        spec, unsupported = EvalSpec.from_eval_config(raw_config)
        if not unsupported:
            raw_config = None   # all of it is an EvalSpec: any engine computes it
        else:
            log.info("the EvalConfig asks for %s, which the vectorized engine does not compute: TFMA runs it "
                     "as given", "; ".join(unsupported))
            engine = "tfma"
    if isinstance(model, (str, Path)) and str(model).endswith((".h5", ".keras")):
        from mlprod._models import load_keras

        model = load_keras(model, trusted=trusted_model)
    kind = _model_kind(model)
    has_change = any(t.max_drop is not None for t in spec.thresholds.values())
    location = _records_location(data, kind, spec, compare=has_change or baseline is not None)
    if location:  # TFMA's workers read the files; the driver checks a sample's columns only
        df = read_sample(location[1], "tfrecord", 1_000)
        _check(df, spec)
    else:
        df = load_frame(data, "evaluation data")
        _check(df, spec)
        df = _add_buckets(df.copy(), spec)
    if kind == "predictions" and (not spec.prediction_key or spec.prediction_key not in df.columns):
        raise ConfigError("model=None evaluates predictions stored in the data: set EvalSpec(prediction_key=...) "
                          "to the column holding them.")
    if baseline is not None and (_model_kind(baseline) == "saved_model") != (kind == "saved_model"):
        raise ConfigError("a SavedModel is compared only with a SavedModel baseline (TFMA runs both); Keras models, "
                          ".tflite files and stored predictions can be mixed, e.g. a .tflite candidate against "
                          "the Keras model it came from.")
    vectorized = engine == "vectorized"
    if (kind != "saved_model" or vectorized) and (has_change or baseline is not None):
        # TFMA compares only models it runs itself (and the vectorized engine never does): evaluate
        # without change thresholds, then merge the separately evaluated baseline and apply them
        # here (no baseline: rubber stamp).
        no_change = replace(spec, thresholds={k: replace(t, max_drop=None) for k, t in spec.thresholds.items()
                                              if t.lower is not None or t.upper is not None})
        cand = _evaluate(model, df, no_change, feature_columns=feature_columns, beam_args=beam_args,
                         output_dir=output_dir, engine=engine)
        if baseline is None:  # change thresholds cannot be judged without a baseline: shown, not applied
            return replace(cand, spec=spec, table=judge_table(cand.table, spec, set(cand.failures or [])))
        base = _evaluate(baseline, df, replace(spec, thresholds={}, beat_trivial=False),
                         feature_columns=feature_columns, beam_args=beam_args, engine=engine)
        return replace(cand, spec=spec).with_baseline(base.table)
    if vectorized:
        return _evaluate_vectorized(model, kind, df, spec, location, feature_columns=feature_columns,
                                    beam_args=beam_args, output_dir=output_dir)
    eval_config = spec.to_eval_config() if raw_config is None else type(raw_config).FromString(
        raw_config.SerializeToString())
    shared = None
    if kind == "saved_model":
        _check_signature(str(model), spec)
        eval_config.model_specs[0].name = "candidate"
        specs = [eval_config.model_specs[0]]
        # without a baseline, change thresholds cannot be judged: bless on value thresholds (as TFX)
        shared = [tfma.default_eval_shared_model(str(model), eval_config=eval_config, model_name="candidate",
                                                 rubber_stamp=baseline is None and has_change)]
        if baseline is not None:
            _check_signature(str(baseline), spec)
            b = eval_config.model_specs.add()
            b.CopyFrom(specs[0])
            b.name, b.is_baseline = "baseline", True
            shared.append(tfma.default_eval_shared_model(str(baseline), eval_config=eval_config,
                                                         model_name="baseline"))
    elif location:  # predictions stored in the files: TFMA's workers read them as they are
        ms = eval_config.model_specs[0]
        ms.name, ms.prediction_key = "candidate", spec.prediction_key
        ms.ClearField("signature_name")
    else:
        # model-agnostic TFMA on predictions we computed (Keras on CPU, TFLite on the interpreter)
        # or that the data already holds (model=None)
        if kind == "predictions":
            df[PRED] = df[spec.prediction_key]
        else:
            df[PRED] = list(predict(model, df, feature_columns=feature_columns, label=spec.label))
        if spec.model_type == "binary":
            df[PRED] = [float(np.ravel(v)[-1]) for v in df[PRED]]
        ms = eval_config.model_specs[0]
        ms.name, ms.prediction_key = "candidate", PRED
        ms.ClearField("signature_name")
    # the workers read the examples and write TFMA's results: both live where workers can reach
    # (output_dir, or a scratch folder under --temp_location for remote runners; mlprod.beam)
    with scratch_location(beam_args, "mlprod-eval-") as tmp:
        records = location[0] if location else write_tfrecord(df, join_uri(tmp, "data.tfrecord"))
        out = str(output_dir or join_uri(tmp, "tfma"))
        try:
            tfma.run_model_analysis(eval_shared_model=shared[0] if shared and len(shared) == 1 else shared,
                                    eval_config=eval_config, data_location=str(records), output_path=out,
                                    pipeline_options=pipeline_options(beam_args))
        except Exception as e:  # TFMA raises many types; name the step and keep the cause
            msg = str(e).splitlines()[0][:300]
            raise DataError(f"TFMA could not evaluate the model on this data ({type(e).__name__}: {msg}). "
                            "Check that the model's inputs match the data's columns and types.") from e
        result = parse_results(out, spec, has_baseline=baseline is not None)
    # TFMA's output in a scratch folder is gone now: no output_dir rather than a path to nothing
    return result if output_dir is not None else replace(result, output_dir=None)


def _evaluate_vectorized(model: Any, kind: str, df: "pd.DataFrame", spec: EvalSpec,
                         location: tuple[str, list[str]] | None, *, feature_columns: list[str] | None,
                         beam_args: list[str] | None, output_dir: str | Path | None) -> EvalResult:
    """The vectorized engine: files on the Beam workers (``location``), else ``df`` on the driver."""
    from mlprod.beam import scratch_location
    from mlprod.evaluation import vectorized as vec
    from mlprod.io.examples import serialized_examples

    with scratch_location(beam_args, "mlprod-eval-") as tmp:
        out = str(output_dir or join_uri(tmp, "tfma"))
        try:
            if location:
                vec.evaluate_files(location[0], spec, out, model=str(model) if kind == "saved_model" else None,
                                   beam_args=beam_args)
            else:
                if kind == "saved_model":
                    _check_signature(str(model), spec)
                    preds = vec.score_records(vec.SavedModelScorer(str(model), spec), serialized_examples(df))
                elif kind == "predictions":
                    col = df[spec.prediction_key]
                    preds = np.stack([np.asarray(v, dtype=np.float32) for v in col]) if col.dtype == object \
                        else col.to_numpy(np.float32)
                else:
                    preds = predict(model, df, feature_columns=feature_columns, label=spec.label)
                if len(preds) != len(df):
                    raise DataError(f"the model returned {len(preds)} predictions for {len(df)} rows.")
                vec.evaluate_predictions(df, preds, spec, out, model_location=str(model) if kind != "keras"
                                         else "<keras model>")
        except (DataError, ConfigError):
            raise
        except Exception as e:  # TensorFlow/Beam raise many types; name the step and keep the cause
            msg = str(e).splitlines()[0][:300] if str(e) else ""
            raise DataError(f"could not evaluate the model on this data ({type(e).__name__}: {msg}). "
                            "Check that the model's inputs match the data's columns and types.") from e
        return parse_results(out, spec)


def _noted(result: EvalResult) -> EvalResult:
    """Log the trivial baseline (always) and the result's warnings: the decision said out loud."""
    t = result.trivial()
    if t["trivial"] == t["trivial"]:
        log.info("trivial baseline on %s: %s; the model: %.4g%s", t["metric"], t["predictor"], t["model"],
                 " (judged: it must beat it)" if result.spec.beat_trivial else "")
    for w in result.warnings:
        log.warning("%s", w)
    return result
