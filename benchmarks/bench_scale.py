"""Scale-out data plane: files read by the Beam workers, side by side with a hand-written TFT pipeline.

Taxi rows (replicated to --rows) are written once as CSV files (4 shards) under --data-dir.
Cases, each in its own process (driver peak RSS is its own; worker RSS is the largest child
process: DirectRunner's worker processes, or Prism and the worker pool's SDK workers). Each
process imports TensorFlow, Beam, TFT, TFDV, TFMA and mlprod before its clock starts (the
import time is its own column), so ``seconds`` is the call itself, for mlprod and peers alike:

- ``mlprod analyze_and_transform`` on the CSV files, DirectRunner in-memory;
- a hand-written TF Transform pipeline doing the same transforms on TFT's own Arrow path
  (tfx_bsl ``CsvTFXIO`` -> ``AnalyzeAndTransformDataset(output_record_batches=True)`` -> tf.Example
  TFRecords + transform graph), same runner, same schema;
- mlprod on DirectRunner multi-processing with 1 and with 2 workers;
- mlprod on Prism with an isolated worker pool (workers with their own ``/tmp``): the driver
  only submits the pipeline and reads back the results;
- ``compute_statistics`` on the files (workers read, driver reads back only the statistics)
  next to plain TFDV ``generate_statistics_from_csv``;
- ``evaluate`` of stored binary predictions in ``tf.Example`` TFRecord files (overall + per
  payment type) next to ``tfma.run_model_analysis`` with a hand-written config on the same files.

The spec: z-score fare, log + z-score trip_miles, 4 quantile buckets of the hour, payment_type
vocabulary (integer ids).

Usage:
    scripts/in-env python -m benchmarks.bench_scale                      # 1,000,000 rows
    scripts/in-env python -m benchmarks.bench_scale --rows 10000000 --cases "mlprod / in-memory,statistics / mlprod"
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from typing import Any

from benchmarks.harness import print_table, replicate, run_isolated

IN_MEMORY = ["--direct_running_mode=in_memory"]
CASES: dict[str, Any] = {
    "transform / mlprod / in-memory": ("mlprod", IN_MEMORY),
    "transform / hand-written TFT Arrow / in-memory": ("tft", IN_MEMORY),
    "transform / mlprod / multi-processing, 1 worker": ("mlprod", ["--direct_running_mode=multi_processing",
                                                                   "--direct_num_workers=1"]),
    "transform / mlprod / multi-processing, 2 workers": ("mlprod", ["--direct_running_mode=multi_processing",
                                                                    "--direct_num_workers=2"]),
    "transform / mlprod / Prism, isolated worker pool": ("mlprod", "prism"),
    "statistics / mlprod / in-memory": ("stats-mlprod", IN_MEMORY),
    "statistics / mlprod / Prism, isolated worker pool": ("stats-mlprod", "prism"),
    "statistics / plain TFDV / in-memory": ("stats-tfdv", IN_MEMORY),
    "evaluate / mlprod / in-memory": ("eval-mlprod", IN_MEMORY),
    "evaluate / mlprod / multi-processing, 2 workers": ("eval-mlprod", ["--direct_running_mode=multi_processing",
                                                                       "--direct_num_workers=2"]),
    "evaluate / mlprod / Prism, isolated worker pool": ("eval-mlprod", "prism"),
    "evaluate / plain TFMA / in-memory": ("eval-tfma", IN_MEMORY),
    "evaluate SavedModel / mlprod / in-memory": ("eval-model-mlprod", IN_MEMORY),
    "evaluate SavedModel / plain TFMA / in-memory": ("eval-model-tfma", IN_MEMORY),
}
MODEL_FEATURES = ("fare", "trip_miles")
EVAL_METRICS = ("ExampleCount", "BinaryAccuracy", "AUC", "Precision", "Recall")
SHARDS = 4


def write_data(rows: int, folder: str) -> str:
    """CSV shards of ``rows`` taxi rows in ``folder`` (reused when already there)."""
    from mlprod import datasets

    return _write_shards(datasets.chicago_taxi(), rows, folder,
                         lambda part, i: part.to_csv(os.path.join(folder, f"part-{i}.csv"), index=False))


def _write_shards(base: Any, rows: int, folder: str, write: Any) -> str:
    """``base`` replicated to ``rows`` rows, written as ``SHARDS`` parts by ``write(part, i)``;
    a folder already holding them (its ``.rows-N`` stamp) is reused."""
    stamp = os.path.join(folder, f".rows-{rows}")
    if os.path.exists(stamp):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    per = rows // SHARDS
    for i in range(SHARDS):
        write(replicate(base, per + (rows - per * SHARDS if i == SHARDS - 1 else 0)), i)
    open(stamp, "w").close()
    return folder


def write_eval_data(rows: int, folder: str) -> str:
    """TFRecord shards of ``rows`` binary "big tipper" predictions (label, score, payment_type, and the
    model's features fare and trip_miles)."""
    import numpy as np
    import tensorflow as tf
    from tfx_bsl.coders import example_coder

    from mlprod import datasets
    from mlprod.preprocessing.analyze import raw_feature_spec
    from mlprod.preprocessing.arrow import record_batches

    base = datasets.chicago_taxi()
    base = base.assign(big_tipper=(base["tips"] > 0.2 * base["fare"]).astype("int64"),
                       score=1 / (1 + np.exp(-((np.log1p(base["fare"].fillna(0)) - 2.0)
                                               + 0.3 * (base["payment_type"] == "Credit Card")).to_numpy())),
                       fare=base["fare"].fillna(0).astype("float32"),
                       trip_miles=base["trip_miles"].fillna(0).astype("float32"),
                       )[["big_tipper", "score", "payment_type", *MODEL_FEATURES]]

    def write(part: Any, i: int) -> None:
        with tf.io.TFRecordWriter(os.path.join(folder, f"part-{i}.tfrecord")) as w:
            for batch in record_batches(part, raw_feature_spec(part, list(part.columns))):
                for ex in example_coder.RecordBatchToExamples(batch):
                    w.write(ex)

    return _write_shards(base, rows, folder, write)


def spec() -> Any:
    from mlprod.preprocessing import Categorical, FeatureSpec, Numeric

    return FeatureSpec(features=(Numeric("fare"), Numeric("trip_miles", scale="log"),
                                 Numeric("trip_start_hour", buckets=4), Categorical("payment_type")))


def hand_tft(folder: str, beam_args: list[str], out: str) -> int:
    """The same transforms, written directly against TFT/tfx_bsl (what a TFT expert would write)."""
    import apache_beam as beam
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from tensorflow_transform.tf_metadata import schema_utils
    from tfx_bsl.coders import example_coder
    from tfx_bsl.public import tfxio

    from mlprod.io.files import list_files
    from mlprod.io.frames import csv_header, read_sample
    from mlprod.preprocessing.analyze import raw_feature_spec

    files = list_files(folder)
    sample = read_sample(files, "csv", 10_000)
    schema = schema_utils.schema_from_feature_spec(raw_feature_spec(sample, list(sample.columns)))
    names = csv_header(files[0])
    used = ["fare", "trip_miles", "trip_start_hour", "payment_type"]

    def preprocessing_fn(inputs: dict[str, Any]) -> dict[str, Any]:
        def dense(x: Any, default: Any) -> Any:
            return tf.squeeze(tf.sparse.to_dense(x, default_value=default), 1) if isinstance(x, tf.SparseTensor) else x

        miles = tf.math.log1p(tf.maximum(tf.cast(dense(inputs["trip_miles"], 0.0), tf.float32), 0.0))
        return {"fare": tft.scale_to_z_score(tf.cast(dense(inputs["fare"], 0.0), tf.float32)),
                "trip_miles": tft.scale_to_z_score(miles),
                "trip_start_hour": tft.bucketize(tf.cast(dense(inputs["trip_start_hour"], 0), tf.float32), 4),
                "payment_type": tft.compute_and_apply_vocabulary(dense(inputs["payment_type"], b""))}

    sources = [tfxio.CsvTFXIO(f, column_names=names, skip_header_lines=1, schema=schema).Project(used)
               for f in files]
    with beam.Pipeline(options=PipelineOptions(beam_args)) as p, tft_beam.Context(temp_dir=os.path.join(out, "tmp")):
        raw = [p | f"Read{i}" >> s.BeamSource() for i, s in enumerate(sources)] | beam.Flatten()
        (data, _), fn = (raw, sources[0].TensorAdapterConfig()) | tft_beam.AnalyzeAndTransformDataset(
            preprocessing_fn, output_record_batches=True)
        _ = (data | beam.FlatMap(lambda b: example_coder.RecordBatchToExamples(b[0]))
             | beam.io.WriteToTFRecord(os.path.join(out, "transformed", "part")))
        _ = fn | tft_beam.WriteTransformFn(out)
    files_out = tf.io.gfile.glob(os.path.join(out, "transformed", "part*"))
    return int(tf.data.TFRecordDataset(files_out).reduce(0, lambda n, _: n + 1))  # counted in-graph


def hand_tfma(folder: str, beam_args: list[str], out: str) -> int:
    """The same evaluation written directly against TFMA (config by hand, files as they are)."""
    import tensorflow_model_analysis as tfma
    from apache_beam.options.pipeline_options import PipelineOptions
    from tensorflow_model_analysis.proto import config_pb2 as c

    cfg = c.EvalConfig(model_specs=[c.ModelSpec(label_key="big_tipper", prediction_key="score")],
                       slicing_specs=[c.SlicingSpec(), c.SlicingSpec(feature_keys=["payment_type"])],
                       metrics_specs=[c.MetricsSpec(metrics=[c.MetricConfig(class_name=n) for n in EVAL_METRICS])])
    res = tfma.run_model_analysis(eval_config=cfg, data_location=os.path.join(folder, "*.tfrecord"),
                                  output_path=os.path.join(out, "tfma"), pipeline_options=PipelineOptions(beam_args))
    for key, metrics in res.slicing_metrics:
        if key == ():
            return int(metrics[""][""]["example_count"]["doubleValue"])
    raise RuntimeError("TFMA produced no overall slice")


def taxi_saved_model(out: str) -> str:
    """A small Keras "big tipper" model (the taxi features fare and trip_miles) exported as a SavedModel
    whose ``serving_default`` parses serialized tf.Examples (what TFX's Trainer exports); seeded, so
    every case scores the same model."""
    import tensorflow as tf
    import tf_keras as keras

    from mlprod import datasets

    df = datasets.chicago_taxi().head(20_000)
    x = df[list(MODEL_FEATURES)].fillna(0).to_numpy("float32")
    y = (df["tips"] > 0.2 * df["fare"]).to_numpy("int64")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Normalization(input_shape=(len(MODEL_FEATURES),)),
                              keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
    model.layers[0].adapt(x)
    model.compile("adam", "binary_crossentropy")
    model.fit(x, y, epochs=1, batch_size=256, verbose=0)
    spec = {f: tf.io.FixedLenFeature([], tf.float32, default_value=0.0) for f in MODEL_FEATURES}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(serialized: Any) -> Any:
        parsed = tf.io.parse_example(serialized, spec)
        return {"outputs": model(tf.stack([parsed[f] for f in MODEL_FEATURES], axis=1))}

    path = os.path.join(out, "taxi_model")
    model.save(path, save_format="tf", signatures={"serving_default": serve})
    return path


def hand_tfma_model(folder: str, model: str, beam_args: list[str], out: str) -> int:
    """TFMA running the SavedModel itself on the files (config by hand)."""
    import tensorflow_model_analysis as tfma
    from apache_beam.options.pipeline_options import PipelineOptions
    from tensorflow_model_analysis.proto import config_pb2 as c

    cfg = c.EvalConfig(model_specs=[c.ModelSpec(label_key="big_tipper")],
                       slicing_specs=[c.SlicingSpec(), c.SlicingSpec(feature_keys=["payment_type"])],
                       metrics_specs=[c.MetricsSpec(metrics=[c.MetricConfig(class_name=n) for n in EVAL_METRICS])])
    shared = tfma.default_eval_shared_model(model, eval_config=cfg)
    res = tfma.run_model_analysis(eval_shared_model=shared, eval_config=cfg,
                                  data_location=os.path.join(folder, "*.tfrecord"),
                                  output_path=os.path.join(out, "tfma"), pipeline_options=PipelineOptions(beam_args))
    for key, metrics in res.slicing_metrics:
        if key == ():
            return int(metrics[""][""]["example_count"]["doubleValue"])
    raise RuntimeError("TFMA produced no overall slice")


def _child(name: str, folder: str, eval_folder: str = "") -> dict[str, Any]:
    import contextlib

    from mlprod import beam

    kind, beam_args = CASES[name]
    out = tempfile.mkdtemp(prefix="bench-scale-", dir="/var/tmp")
    stack = contextlib.ExitStack()
    on_pool = beam_args == "prism"
    if on_pool:  # the driver only submits; Prism and the pool's workers hold the data
        pool = stack.enter_context(beam.worker_pool())  # its workers install mlprod from the staged wheel
        wheel = beam.build_wheel(os.path.join(out, "dist"))
        beam_args = beam.prism_args(pool, packages=[wheel], extra=[f"--temp_location={out}"])
    # the libraries are imported before the clock starts, in every case alike: a notebook or a
    # worker pays that once per process (recorded apart as import_s), not per call
    t_import = time.perf_counter()
    import apache_beam  # noqa: F401
    import tensorflow_data_validation  # noqa: F401
    import tensorflow_model_analysis  # noqa: F401
    import tensorflow_transform.beam  # noqa: F401

    import mlprod  # noqa: F401
    import_s = time.perf_counter() - t_import
    model = taxi_saved_model(out) if kind.startswith("eval-model") else ""
    t0 = time.perf_counter()
    try:
        if kind == "mlprod":
            import mlprod

            rows = mlprod.analyze_and_transform(folder, spec(), beam_args=beam_args, output_dir=out,
                                                progress=False, preview_rows=1000).num_rows
        elif kind == "tft":
            rows = hand_tft(folder, beam_args, out)
        elif kind == "stats-mlprod":
            import mlprod

            rows = mlprod.compute_statistics(folder, beam_args=beam_args).datasets[0].num_examples
        elif kind == "eval-mlprod":
            import mlprod

            ev = mlprod.EvalSpec(label="big_tipper", model_type="binary", slices=["payment_type"],
                                 prediction_key="score", metrics=list(EVAL_METRICS))
            # on the pool, TFMA's results go where the workers can write (the driver reads them back)
            table = mlprod.evaluate(None, eval_folder, ev, beam_args=beam_args,
                                    output_dir=os.path.join(out, "eval") if on_pool else None).table
            rows = int(table[(table["slice"] == "Overall") & (table["metric"] == "example_count")]["value"].iloc[0])
        elif kind == "eval-tfma":
            rows = hand_tfma(eval_folder, beam_args, out)
        elif kind == "eval-model-mlprod":
            import mlprod

            ev = mlprod.EvalSpec(label="big_tipper", model_type="binary", slices=["payment_type"],
                                 metrics=list(EVAL_METRICS))
            table = mlprod.evaluate(model, eval_folder, ev, beam_args=beam_args).table
            rows = int(table[(table["slice"] == "Overall") & (table["metric"] == "example_count")]["value"].iloc[0])
        elif kind == "eval-model-tfma":
            rows = hand_tfma_model(eval_folder, model, beam_args, out)
        else:
            import tensorflow_data_validation as tfdv
            from apache_beam.options.pipeline_options import PipelineOptions

            rows = tfdv.generate_statistics_from_csv(os.path.join(folder, "*.csv"), pipeline_options=PipelineOptions(
                beam_args)).datasets[0].num_examples
        seconds = time.perf_counter() - t0
    finally:
        from mlprod._runtime import after_tft_run

        after_tft_run()
        stack.close()
        shutil.rmtree(out, ignore_errors=True)
    return {"seconds": seconds, "rows": rows, "import_s": import_s,
            "workers_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--data-dir", default="/var/tmp/mlprod-bench-scale")
    ap.add_argument("--cases", default="", help="comma-separated substrings of case names (default: all)")
    args = ap.parse_args()
    print(f"writing {args.rows:,} taxi rows as {SHARDS} CSV files in {args.data_dir} ...", flush=True)
    wanted = [c for c in args.cases.split(",") if c]
    names = [n for n in CASES if not wanted or any(w in n for w in wanted)]
    folder = write_data(args.rows, args.data_dir) if any(not n.startswith("evaluate") for n in names) else ""
    eval_folder = ""
    if any(n.startswith("evaluate") for n in names):
        print(f"writing {args.rows:,} predictions as {SHARDS} TFRecord files ...", flush=True)
        eval_folder = write_eval_data(args.rows, args.data_dir + "-eval-v2")  # v2: with the model features
    table = []
    for name in names:
        print(f"{name} ...", flush=True)
        res = run_isolated(_child, name, folder, eval_folder)
        table.append({"case": name, "rows": res["rows"], "seconds": round(res["seconds"], 1),
                      "rows_per_s": round(res["rows"] / res["seconds"]),
                      "imports_s (not in seconds)": round(res["import_s"], 1),
                      "driver_peak_rss_mb": round(res["peak_rss_mb"]),
                      "workers_peak_rss_mb": round(res["workers_rss_mb"])})
        print(table[-1], flush=True)
    print_table(table, f"Files read by Beam workers: {args.rows:,} taxi rows (2 cores)")


if __name__ == "__main__":
    main()
