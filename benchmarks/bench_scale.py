"""Scale-out data plane: files read by the Beam workers, side by side with a hand-written TFT pipeline.

Taxi rows (replicated to --rows) are written once as CSV files (4 shards) under --data-dir.
Cases, each in its own process (driver peak RSS is its own; worker RSS is the largest child):

- ``mlprod analyze_and_transform`` on the CSV files, DirectRunner in-memory;
- a hand-written TF Transform pipeline doing the same transforms on TFT's own Arrow path
  (tfx_bsl ``CsvTFXIO`` -> ``AnalyzeAndTransformDataset(output_record_batches=True)`` -> tf.Example
  TFRecords + transform graph), same runner, same schema;
- mlprod on DirectRunner multi-processing with 1 and with 2 workers;
- ``compute_statistics`` on the files (workers read, driver reads back only the statistics)
  next to plain TFDV ``generate_statistics_from_csv``.

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
    "statistics / mlprod / in-memory": ("stats-mlprod", IN_MEMORY),
    "statistics / plain TFDV / in-memory": ("stats-tfdv", IN_MEMORY),
}
SHARDS = 4


def write_data(rows: int, folder: str) -> str:
    """CSV shards of ``rows`` taxi rows in ``folder`` (reused when already there)."""
    from mlprod import datasets

    stamp = os.path.join(folder, f".rows-{rows}")
    if os.path.exists(stamp):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    per = rows // SHARDS
    base = datasets.chicago_taxi()
    for i in range(SHARDS):
        replicate(base, per + (rows - per * SHARDS if i == SHARDS - 1 else 0)).to_csv(
            os.path.join(folder, f"part-{i}.csv"), index=False)
    open(stamp, "w").close()
    return folder


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

    from mlprod._data import csv_header, list_files, read_sample
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


def _child(name: str, folder: str) -> dict[str, Any]:
    kind, beam_args = CASES[name]
    out = tempfile.mkdtemp(prefix="bench-scale-", dir="/var/tmp")
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
        else:
            import tensorflow_data_validation as tfdv
            from apache_beam.options.pipeline_options import PipelineOptions

            rows = tfdv.generate_statistics_from_csv(os.path.join(folder, "*.csv"), pipeline_options=PipelineOptions(
                beam_args)).datasets[0].num_examples
        seconds = time.perf_counter() - t0
    finally:
        from mlprod._runtime import after_tft_run

        after_tft_run()
        shutil.rmtree(out, ignore_errors=True)
    return {"seconds": seconds, "rows": rows,
            "workers_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--data-dir", default="/var/tmp/mlprod-bench-scale")
    ap.add_argument("--cases", default="", help="comma-separated substrings of case names (default: all)")
    args = ap.parse_args()
    print(f"writing {args.rows:,} taxi rows as {SHARDS} CSV files in {args.data_dir} ...", flush=True)
    folder = write_data(args.rows, args.data_dir)
    wanted = [c for c in args.cases.split(",") if c]
    table = []
    for name in [n for n in CASES if not wanted or any(w in n for w in wanted)]:
        print(f"{name} ...", flush=True)
        res = run_isolated(_child, name, folder)
        table.append({"case": name, "rows": res["rows"], "seconds": round(res["seconds"], 1),
                      "rows_per_s": round(res["rows"] / res["seconds"]),
                      "driver_peak_rss_mb": round(res["peak_rss_mb"]),
                      "workers_peak_rss_mb": round(res["workers_rss_mb"])})
        print(table[-1], flush=True)
    print_table(table, f"Files read by Beam workers: {args.rows:,} taxi rows (2 cores)")


if __name__ == "__main__":
    main()
