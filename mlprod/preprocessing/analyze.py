"""``analyze_and_transform``: run the spec's full-pass analysis and transform on Apache Beam.

Example:
    >>> import mlprod
    >>> from mlprod import datasets
    >>> from mlprod.preprocessing import FeatureSpec, Numeric, Categorical
    >>> spec = FeatureSpec(label="tips", features=(Numeric("fare"), Categorical("payment_type")))
    >>> result = mlprod.analyze_and_transform(datasets.chicago_taxi().head(500), spec, progress=False)
    >>> list(result.transformed.columns)
    ['fare', 'payment_type', 'tips']
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlprod._runtime import after_tft_run
from mlprod.beam import default_args
from mlprod.errors import DataError
from mlprod.io.examples import write_example_batches  # serialized_examples: re-exported
from mlprod.io.files import atomic_output, files_kind, join_uri, list_files
from mlprod.io.frames import load_frame, read_sample
from mlprod.io.sources import read_on_workers, tfxio_sources
from mlprod.preprocessing.arrow import (
    arrow_schema,
    read_files,
    record_batches,
    tensor_adapter_config,
    value_kinds,
)
from mlprod.preprocessing.compile import ISO_DATE, Fn, build_preprocessing_fn
from mlprod.preprocessing.spec import (
    NMF,
    PCA,
    SVD,
    Categorical,
    Cross,
    DateParts,
    Distance,
    FeatureSpec,
    Numeric,
)
from mlprod.reporting import HtmlResult, html_page, table_html

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

ROW_KEY = "__row__"  # carried through the graph to restore input order after Beam
ROWS_COUNTER = "transformed_rows"
PREVIEW_ROWS = 10_000  # rows of a file input's transformed data read back into the notebook
SAMPLE_ROWS = 10_000  # rows of the first file read to infer the raw schema
FILE_BATCH_ROWS = 10_000  # RecordBatch size read from TFRecords (tfx_bsl's default: 1,000; bigger is faster)


def check_spec(df: "pd.DataFrame", spec: FeatureSpec) -> None:
    """Fail before Beam starts on what can be known from the data.

    Raises:
        DataError: a column the spec needs is missing, a numeric transform on strings, NaN
            without ``impute``, infinite values, a column with no values at all.
    """
    import pandas as pd

    missing = [c for c in spec.input_columns() if c not in df.columns]
    if missing:
        raise DataError(f"the spec names column(s) {missing} that are not in the data (columns: "
                        f"{list(df.columns)}); fix the names in the spec.")
    for f in spec.features:
        numeric_cols = {Numeric: f.inputs, Distance: f.inputs, PCA: f.inputs, SVD: f.inputs, NMF: f.inputs,
                        DateParts: f.inputs}.get(type(f), ())
        for c in numeric_cols:
            col = df[c]
            if isinstance(f, DateParts) and not pd.api.types.is_numeric_dtype(col):
                bad = col.dropna().astype(str)
                bad = bad[~bad.str.fullmatch(ISO_DATE)]
                if len(bad):
                    raise DataError(f"DateParts({f.name!r}) reads Unix seconds or ISO 8601 text "
                                    f"(YYYY-MM-DD[THH:MM:SS]), but column {c!r} holds values like "
                                    f"{bad.head(2).tolist()}; convert the column.")
                continue
            if not pd.api.types.is_numeric_dtype(col):
                raise DataError(f"{type(f).__name__}({f.name!r}) needs numbers, but column {c!r} holds "
                                f"{col.dtype} values like {col.dropna().astype(str).head(2).tolist()}; use "
                                "Categorical for strings or convert the column.")
            values = col.to_numpy(dtype=float, na_value=np.nan)
            if np.isinf(values).any():
                raise DataError(f"column {c!r} has {int(np.isinf(values).sum())} infinite value(s); replace "
                                "them (e.g. with NaN and impute=...) before transforming.")
            if np.isnan(values).all():
                raise DataError(f"column {c!r} has no values at all; drop it from the spec.")
            if np.isnan(values).any() and getattr(f, "impute", "x") is None and not isinstance(f, DateParts):
                raise DataError(f"column {c!r} has {int(np.isnan(values).sum())} missing value(s); set "
                                f"impute='mean'|'median'|'constant' on {type(f).__name__}({f.name!r}).")
            if isinstance(f, NMF) and (values < 0).any():
                raise DataError(f"NMF({f.name!r}) needs non-negative inputs, but column {c!r} has "
                                f"{int((values < 0).sum())} negative value(s) (min {np.nanmin(values):g}); clip or "
                                "shift the column first, or use SVD, which takes any sign.")
        if isinstance(f, (Categorical, Cross)):
            for c in f.inputs:
                if df[c].isna().all():
                    raise DataError(f"column {c!r} has no values at all; drop it from the spec.")
                if isinstance(f, Categorical) and df[c].isna().any() and f.impute is None:
                    raise DataError(f"column {c!r} has {int(df[c].isna().sum())} missing value(s); set "
                                    f"impute='mode'|'constant' on Categorical({f.name!r}).")


def raw_feature_spec(df: "pd.DataFrame", columns: list[str]) -> dict[str, Any]:
    """TF feature spec of the raw columns: FixedLen when always present, VarLen when optional."""
    import pandas as pd
    import tensorflow as tf

    spec = {}
    for c in columns:
        s = df[c]
        dtype = (tf.int64 if pd.api.types.is_integer_dtype(s) or pd.api.types.is_bool_dtype(s)
                 else tf.float32 if pd.api.types.is_float_dtype(s) else tf.string)
        spec[c] = tf.io.FixedLenFeature([], dtype) if not s.isna().any() else tf.io.VarLenFeature(dtype)
    return spec


@dataclass
class TransformResult(HtmlResult):
    """What :func:`analyze_and_transform` produced (the result protocol: ``.table``, ``to_html``,
    ``.save(output_dir)``).

    ``table`` (the same as :meth:`summary`) is the main table: one row per output feature, before
    and after: kind, source columns, raw mean/std/unique count, transformed mean/std and shape.
    The transformed data itself is ``transformed``; ``save(output_dir)`` writes ``table.csv`` and
    ``report.html`` (the transform graph is already in :attr:`output_dir`).

    Attributes:
        transformed: the transformed data (one column per output feature; vectors as arrays).
        transform_output: ``tft.TFTransformOutput`` of the written transform graph.
        output_dir: where the transform graph lives (``transform_fn/``, ``transformed_metadata/``).
        raw: the input data (for file inputs: the sample the driver read to infer the schema).
        spec: the spec used.
        seconds: wall time of the Beam run.
        num_rows: rows transformed (counted on the workers).
        transformed_files: the transformed data as ``tf.Example`` TFRecord files under
            ``output_dir/transformed/`` (all rows, whatever their number).
    """

    transformed: "pd.DataFrame"
    transform_output: Any
    output_dir: str
    raw: "pd.DataFrame"
    spec: FeatureSpec
    seconds: float = 0.0
    num_rows: int | None = None
    transformed_files: list[str] = field(default_factory=list)

    @property
    def table(self) -> "pd.DataFrame":
        """The main table: :meth:`summary` (one row per output feature, before and after).

        Example:
            >>> from mlprod.preprocessing import FeatureSpec, Numeric
            >>> r = analyze_and_transform(datasets.chicago_taxi().head(200), FeatureSpec(features=(Numeric("fare"),)),
            ...                           progress=False)
            >>> r.table[["feature", "kind", "from"]].values.tolist()
            [['fare', 'Numeric', 'fare']]
        """
        return self.summary()

    def summary(self) -> "pd.DataFrame":
        """Before/after per output feature: source columns, raw mean/std, transformed mean/std/shape."""
        import pandas as pd

        rows = []
        for f in self.spec.features:
            outs = [f"{f.name}_{p}" for p in f.parts] if isinstance(f, DateParts) else [f.name]
            src = ", ".join(f.inputs)
            raw = self.raw[f.inputs[0]]
            raw_num = pd.api.types.is_numeric_dtype(raw)
            for o in outs:
                col = np.stack(self.transformed[o].to_numpy()).astype(float)
                rows.append({"feature": o, "kind": type(f).__name__, "from": src,
                             "raw_mean": float(raw.mean()) if raw_num else None,
                             "raw_std": float(raw.std()) if raw_num else None,
                             "raw_unique": int(raw.nunique()),
                             "mean": float(col.mean()), "std": float(col.std()),
                             "shape": str(list(col.shape[1:]) or "scalar")})
        return pd.DataFrame(rows)

    def serving_fn(self) -> Any:
        """A ``tf.function`` mapping serialized raw ``tf.Example``s to transformed features."""
        return serving_fn(self.transform_output, label=self.spec.label)

    def __repr__(self) -> str:
        rows = self.num_rows if self.num_rows is not None else len(self.transformed)
        return (f"<TransformResult {rows} rows, {len(self.transformed.columns)} features, "
                f"graph in {self.output_dir}>")

    def to_html(self, full: bool = True) -> str:
        return html_page("mlprod transform", [("Before / after", table_html(self.summary())),
                                              ("First rows", table_html(self.transformed.head(5).astype(str)))],
                         full=full)


def serving_fn(transform_output: Any, label: str | None = None) -> Any:
    """Serving-time preprocessing: serialized raw examples -> transformed features (same graph).

    Build the examples of a DataFrame's rows with :func:`serialized_examples`.

    Example:
        >>> import tensorflow as tf
        >>> from mlprod.preprocessing import FeatureSpec, Numeric, serialized_examples
        >>> taxi = datasets.chicago_taxi().head(200)
        >>> result = analyze_and_transform(taxi, FeatureSpec(features=(Numeric("fare"),)), progress=False)
        >>> fn = serving_fn(result.transform_output, label="tips")
        >>> out = fn(tf.constant(serialized_examples(taxi.head(3))))["fare"].numpy().ravel()
        >>> bool(np.allclose(out, result.transformed["fare"].head(3), atol=1e-5))   # the same graph
        True
    """
    import tensorflow as tf

    layer = transform_output.transform_features_layer()
    raw = {k: v for k, v in transform_output.raw_feature_spec().items() if k not in (label, ROW_KEY)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(serialized: Any) -> dict[str, Any]:
        return layer(tf.io.parse_example(serialized, raw))

    serve.layer = layer  # keep the layer (and its resources) alive with the function
    return serve


def analyze_and_transform(data: Any, spec: FeatureSpec, *, preprocessing_fn: Fn | None = None,
                          output_dir: str | Path | None = None, beam_args: list[str] | None = None,
                          progress: bool = True, preview_rows: int = PREVIEW_ROWS) -> TransformResult:
    """Analyze ``data`` (full pass, on Beam) and transform it with one TF Transform graph.

    Args:
        data: a DataFrame (fed to Beam as Arrow RecordBatches, input order kept), or CSV,
            TFRecord (``tf.Example``) or Parquet file(s), glob or folder, local or ``gs://``-style:
            files are read by the Beam workers (TFXIO); the driver reads only a sample of the
            first file to infer the raw schema (a column with no missing value in the sample is
            required in every row).
        spec: the :class:`FeatureSpec`.
        preprocessing_fn: your own ``preprocessing_fn(inputs) -> dict``; its outputs are
            merged with the spec's (spec may then be just a label).
        output_dir: where the workers write the transform graph and the transformed data
            (default: a new temp folder; under ``--temp_location`` for runners whose workers do
            not share this disk). A local folder is written atomically: a failed run leaves an
            earlier graph there intact.
        beam_args: Beam args; default DirectRunner in-memory. E.g.
            ``["--direct_running_mode=multi_processing", "--direct_num_workers=2"]``, or any runner
            (:mod:`mlprod.beam`).
        preview_rows: for file inputs, ``result.transformed`` holds the first this many rows
            (all rows stay in ``result.transformed_files``).

    Raises:
        DataError: missing columns, wrong types, NaN without impute, inf, empty data — before
            Beam starts; a failing Beam step is re-raised naming the step.

    Example:
        >>> from mlprod.preprocessing import FeatureSpec, Numeric
        >>> r = analyze_and_transform(datasets.chicago_taxi().head(300), FeatureSpec(features=(Numeric("fare"),)),
        ...                           progress=False)
        >>> abs(float(r.transformed["fare"].mean())) < 1e-6   # z-scored
        True
        >>> r = analyze_and_transform(datasets.path("chicago_taxi"), FeatureSpec(features=(Numeric("fare"),)),
        ...                           progress=False, preview_rows=100)
        >>> r.num_rows, len(r.transformed)
        (15002, 100)
    """
    import pandas as pd
    import tensorflow_transform as tft
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    from mlprod.beam import default_output

    spec_fn = build_preprocessing_fn(spec, preprocessing_fn)
    if isinstance(data, pd.DataFrame):
        df = load_frame(data, "preprocessing data")
        check_spec(df, spec)
        columns = list(dict.fromkeys(spec.input_columns() + ([] if preprocessing_fn is None else list(df.columns))))
        keyed = df.assign(**{ROW_KEY: np.arange(len(df), dtype=np.int64)})
        feature_spec = raw_feature_spec(keyed, [*columns, ROW_KEY])
        batches = record_batches(keyed, feature_spec)
        source: Any = ("frame", batches, tensor_adapter_config(batches[0].schema, feature_spec))
        sample, what = df, f"{len(df):,} rows"
    else:
        files = list_files(data)
        kind = files_kind(files, "preprocessing data")
        sample = read_sample(files, kind, SAMPLE_ROWS)
        check_spec(sample, spec)
        columns = list(dict.fromkeys(spec.input_columns() + ([] if preprocessing_fn is None else list(sample.columns))))
        feature_spec = raw_feature_spec(sample, columns)
        if kind == "tfrecord":
            sources = [io.Project(columns) for io in tfxio_sources(
                files, kind, schema_utils.schema_from_feature_spec(feature_spec))]
            source = ("tfxio", sources, sources[0].TensorAdapterConfig())
        else:  # CSV, Parquet: pyarrow's C++ readers on the workers, only the columns we use
            kinds = value_kinds(feature_spec)
            source = ("arrow", (files, kind, kinds), tensor_adapter_config(arrow_schema(kinds), feature_spec))
        what = f"{len(files)} {kind} file(s)"
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(
        {k: v for k, v in feature_spec.items() if k != ROW_KEY}))
    keyed_input = source[0] == "frame"

    def fn(inputs: dict[str, Any]) -> dict[str, Any]:
        out = spec_fn({k: v for k, v in inputs.items() if k != ROW_KEY})
        if keyed_input:
            out[ROW_KEY] = inputs[ROW_KEY]
        return out

    out_dir = str(output_dir) if output_dir is not None else default_output(beam_args, "mlprod-transform-")
    args = list(beam_args or default_args())
    if progress:
        print(f"analyze_and_transform: {what}, {len(spec.features)} feature transforms on Beam "
              f"({' '.join(args)})", flush=True)
    t0 = time.perf_counter()
    with atomic_output(out_dir) as tmp:
        try:
            num_rows = _run_beam(source, fn, tmp, args)
        except Exception as e:
            raise DataError(f"the Beam transform failed ({type(e).__name__}: {str(e).splitlines()[0][:300]}); "
                            f"no transform graph was written to {out_dir}.") from e
        finally:
            after_tft_run()  # TFT's leftover cycles segfault when collected (mlprod._runtime)
        from tensorflow_transform.tf_metadata import metadata_io

        # the raw schema beside the graph, so serving can parse raw examples (as TFX's Transform)
        metadata_io.write_metadata(metadata, join_uri(tmp, tft.TFTransformOutput.RAW_METADATA_DIR))
    seconds = time.perf_counter() - t0
    tft_out = tft.TFTransformOutput(out_dir)
    files_out = _transformed_files(out_dir)
    if keyed_input:
        transformed = _read_transformed(files_out, tft_out)
        transformed = transformed.sort_values(ROW_KEY).drop(columns=ROW_KEY).reset_index(drop=True)
        num_rows = len(transformed)
    else:
        transformed = _read_transformed(files_out, tft_out, limit=preview_rows)
    if progress:
        print(f"analyze_and_transform: {num_rows:,} rows done in {seconds:.1f} s -> {out_dir}", flush=True)
    return TransformResult(transformed, tft_out, out_dir, sample, spec, seconds, num_rows, files_out)


def _run_beam(source: tuple[str, Any, Any], fn: Fn, out: str, beam_args: list[str]) -> int:
    """Build and run the Beam pipeline; the workers read, analyze, transform and write under ``out``."""
    import apache_beam as beam
    import tensorflow_transform.beam as tft_beam
    from apache_beam.metrics.metric import MetricsFilter

    from mlprod.beam import pipeline_options

    kind, inputs, adapter = source
    p = beam.Pipeline(options=pipeline_options(beam_args))
    with tft_beam.Context(temp_dir=join_uri(out, ".tft_tmp")):
        # Arrow RecordBatches, not one Python dict per row: TFT's own fast path
        if kind == "frame":
            raw = p | "Raw" >> beam.Create(inputs, reshuffle=False)
            (data_out, _), transform_fn = (raw, adapter) | "AnalyzeAndTransform" >> (
                tft_beam.AnalyzeAndTransformDataset(fn, output_record_batches=True))
        else:
            # Files are read twice, once fused with the analysis and once with the transform:
            # re-reading (C++, ~1 s per million rows) is far cheaper than the runner holding every
            # raw batch between the two passes, which also kept the work from spreading over workers.
            def read(label: str) -> Any:
                if kind == "arrow":
                    files, file_kind, kinds = inputs
                    return read_files(p, files, file_kind, kinds, label=label)
                return read_on_workers(p, inputs, f"{label}Read", batch_rows=FILE_BATCH_ROWS)

            transform_fn = (read("Analyze"), adapter) | "Analyze" >> tft_beam.AnalyzeDataset(fn)
            data_out, _ = ((read("Transform"), adapter), transform_fn) | "Transform" >> tft_beam.TransformDataset(
                output_record_batches=True)
        # whole batches encoded and written at once (not one Beam element per row: 2x faster at 1M rows)
        _ = data_out | "Write" >> write_example_batches(join_uri(out, "transformed", "part"), ROWS_COUNTER)
        _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(out)
        result = p.run()
        result.wait_until_finish()
    _remove_tree(join_uri(out, ".tft_tmp"))
    counted = result.metrics().query(MetricsFilter().with_name(ROWS_COUNTER))["counters"]
    return int(sum(c.committed or c.attempted or 0 for c in counted))


def _remove_tree(path: str) -> None:
    import tensorflow as tf

    if tf.io.gfile.exists(path):
        tf.io.gfile.rmtree(path)


def _transformed_files(out_dir: str) -> list[str]:
    import tensorflow as tf

    return sorted(tf.io.gfile.glob(join_uri(out_dir, "transformed", "part*")))


def _read_transformed(files: list[str], tft_out: Any, limit: int | None = None) -> "pd.DataFrame":
    import pandas as pd
    import tensorflow as tf

    spec = tft_out.transformed_feature_spec()
    cols: dict[str, list] = {k: [] for k in spec}
    data = tf.data.TFRecordDataset(files)
    for batch in (data.take(limit) if limit is not None else data).batch(4096):
        parsed = tf.io.parse_example(batch, spec)
        for k, v in parsed.items():
            arr = tf.sparse.to_dense(v).numpy() if isinstance(v, tf.SparseTensor) else v.numpy()
            if arr.dtype == object:
                arr = np.vectorize(lambda b: b.decode("utf-8", "replace"))(arr)
            cols[k] += list(arr) if arr.ndim > 1 else arr.tolist()
    return pd.DataFrame(cols)
