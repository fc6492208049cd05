"""Regenerate the notebooks from these cell lists, executed, with their docs pages:

    scripts/in-env python notebooks/_build.py --execute [NAME ...]

Executed notebooks are committed with their outputs (machine paths scrubbed, stderr logs
dropped) and rendered to ``docs/notebooks/NAME.md`` for the docs site.

Notebooks are executed by tests/test_notebooks.py (cwd = a temp dir), so they write only
under tempfile.mkdtemp().
"""
from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).parent
md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell

NOTEBOOKS = {
    "quickstart": [
        md("# mlprod quickstart\n\nOne import, one call per capability. This notebook runs the penguin "
           "pipeline end to end on TFX's local runner with Beam, then looks at what it recorded in ML Metadata."),
        code("import tempfile\n\nimport mlprod\nfrom mlprod import datasets\n\n"
             "print(mlprod.__version__)\ndatasets.penguins().head()"),
        md("## Is the serving data like the training data?"),
        code("mlprod.detect_skew(datasets.penguins(), datasets.penguins('skewed'), label='species')"),
        md("## Run the example pipeline\n\nCsvExampleGen → StatisticsGen → SchemaGen → SchemaCurator → "
           "ExampleValidator → skew gate on serving data → Transform → Trainer → Evaluator → Pusher."),
        code("from mlprod.pipelines import penguin\n\n"
             "out = tempfile.mkdtemp(prefix='penguin-')\n"
             "summary = mlprod.run_pipeline(penguin.create_pipeline(penguin.config(out, train_steps=150)))\n"
             "print(summary)\nassert summary.blessed"),
        md("## The model registry view (ML Metadata)"),
        code("from mlprod.pipelines import metadata\n\nmetadata.models(summary.metadata_path)"),
    ],
    "validation": [
        md("# Data validation\n\nSchema inference with curation, training/serving skew and span-to-span "
           "drift on real data, with TensorFlow Data Validation underneath."),
        code("import numpy as np\n\nimport mlprod\nfrom mlprod import datasets\n\n"
             "schema = mlprod.infer_schema(datasets.penguins(), label='species')\n"
             "schema.table   # one row per feature; the TFDV proto is schema.proto"),
        md("## Skew: TFX's skewed penguin copy has one culmen length of -1"),
        code("skew = mlprod.detect_skew(datasets.penguins(), datasets.penguins('skewed'), schema)\n"
             "assert skew.flagged == ['culmen_length_mm']\nskew"),
        md("## Drift on the Chicago taxi data\n\nA random split raises no alarm; a 6-hour shift of the "
           "pickup hour is caught."),
        code("taxi = datasets.chicago_taxi()\nidx = np.random.default_rng(0).permutation(len(taxi))\n"
             "a, b = taxi.iloc[idx[:7500]], taxi.iloc[idx[7500:]]\n"
             "assert mlprod.detect_drift(a, b, label='tips').passed\n"
             "shifted = b.assign(trip_start_hour=(b.trip_start_hour + 6) % 24)\n"
             "drift = mlprod.detect_drift(a, shifted, label='tips')\ndrift"),
        code("drift.table.sort_values('value', ascending=False).head(8)"),
    ],
    "evaluation": [
        md("# Sliced evaluation\n\nMetrics per slice, fairness gaps and thresholds with TensorFlow Model "
           "Analysis's definitions and output format, computed by mlprod's vectorized evaluator, on a small "
           "model trained here on the Chicago taxi data."),
        code("import numpy as np\nimport tf_keras as keras\n\nimport mlprod\nfrom mlprod import datasets\n"
             "from mlprod.evaluation import Buckets, EvalSpec, Threshold\n\n"
             "df = datasets.chicago_taxi().sample(4000, random_state=0).reset_index(drop=True)\n"
             "features = ['trip_miles', 'fare', 'trip_seconds', 'trip_start_hour']\n"
             "df = df.dropna(subset=features).reset_index(drop=True)\n"
             "df['big_tipper'] = (df.tips > 0.2 * df.fare).astype('int64')\n"
             "x = df[features].to_numpy('float32')\n"
             "keras.utils.set_random_seed(0)\n"
             "norm = keras.layers.Normalization(input_shape=(4,)); norm.adapt(x)\n"
             "model = keras.Sequential([norm, keras.layers.Dense(16, activation='relu'), "
             "keras.layers.Dense(1, activation='sigmoid')])\n"
             "model.compile('adam', 'binary_crossentropy')\n"
             "model.fit(x, df.big_tipper, epochs=5, verbose=0);"),
        code("spec = EvalSpec(label='big_tipper', model_type='binary',\n"
             "                slices=['trip_start_hour', Buckets('trip_miles', (1, 3, 10))],\n"
             "                fairness=['payment_type'], min_slice_size=50,\n"
             "                thresholds={'auc': Threshold(lower=0.6)})\n"
             "result = mlprod.evaluate(model, df, spec, feature_columns=features)\nresult"),
        code("result.worst_slices().head()"),
        code("result.fairness()"),
        md("## The same numbers as TFMA itself\n\n`engine='tfma'` runs `tfma.run_model_analysis`; the default "
           "vectorized engine computes TFMA's metrics with numpy per batch, AUC with TFMA's own histogram "
           "and threshold grid."),
        code("import time\n\n"
             "t0 = time.perf_counter(); tfma_result = mlprod.evaluate(model, df, spec, feature_columns=features, "
             "engine='tfma'); t_tfma = time.perf_counter() - t0\n"
             "t0 = time.perf_counter(); mlprod.evaluate(model, df, spec, feature_columns=features); "
             "t_vec = time.perf_counter() - t0\n"
             "both = result.table.merge(tfma_result.table, on=['slice', 'metric'], suffixes=('', '_tfma'))\n"
             "print(f'largest difference: {(both.value - both.value_tfma).abs().max():.2g}; '\n"
             "      f'TFMA {t_tfma:.1f} s, vectorized {t_vec:.1f} s')"),
        code("from IPython.display import HTML\n\nfrom mlprod.reporting import figure_html\n\n"
             "HTML(figure_html(result.plot().figure))   # the main metric per slice"),
    ],
    "preprocessing": [
        md("# Preprocessing at scale\n\nDescribe features once; mlprod compiles a TensorFlow Transform "
           "`preprocessing_fn`, runs the full-pass analysis on Apache Beam, and gives back the transformed "
           "data and one graph for training and serving."),
        code("import tensorflow as tf\n\nimport mlprod\nfrom mlprod import datasets\n"
             "from mlprod.preprocessing import Categorical, DateParts, Distance, FeatureSpec, Numeric\n\n"
             "spec = FeatureSpec(label='tips', features=(\n"
             "    Numeric('fare', scale='log'),\n"
             "    Numeric('trip_start_hour', buckets=4),\n"
             "    Categorical('payment_type', encoding='onehot', top_k=4),\n"
             "    Distance('trip_km', 'pickup_latitude', 'pickup_longitude', 'dropoff_latitude',\n"
             "             'dropoff_longitude', scale='none', impute='mean'),\n"
             "    DateParts('start', 'trip_start_timestamp', ('hour', 'weekday')),\n"
             "))\nprint(spec.to_json()[:200], '...')"),
        code("taxi = datasets.chicago_taxi().head(1000)\n"
             "result = mlprod.analyze_and_transform(taxi, spec)\nresult"),
        md("## The same graph at serving time, on raw `tf.Example`s"),
        code("from mlprod.preprocessing import serialized_examples\n\n"
             "served = result.serving_fn()(tf.constant(serialized_examples(taxi.drop(columns=['tips']).head(3))))\n"
             "served['trip_km'].numpy(), result.transformed['trip_km'].head(3).to_numpy()"),
    ],
    "tuning": [
        md("# Neural architecture search\n\nOne declarative space, six strategies (random, grid, Bayesian, "
           "Hyperband, ASHA and regularized evolution), a size budget, a tf_keras result ready for QAT, and the "
           "ways to spend less compute per trial."),
        code("import mlprod\nfrom mlprod import datasets\nfrom mlprod.tuning import DenseSpace\n\n"
             "df = datasets.penguins()\nx = df.drop(columns='species').to_numpy('float32')\n"
             "y = df['species'].to_numpy()\n"
             "space = DenseSpace(input_shape=(4,), num_classes=3, depth=(1, 2), width=(8, 32, 8),\n"
             "                   batch_norm=(False,), optimizers=('adam',), learning_rate=(3e-3, 3e-2))"),
        code("result = mlprod.search(space, (x, y), strategy='evolution', max_trials=4, epochs=3,\n"
             "                       max_params=600, population_size=2, sample_size=1)\nresult"),
        code("result.table[['trial_id', 'status', 'score', 'params', 'fits_budget']]"),
        code("type(result.best_model).__module__, result.best_model.count_params()"),
        md("## Spending less compute\n\nThe same evolution search twice: every trial trained in full, then "
           "with early termination (hopeless learning curves are stopped) and weight inheritance (a child "
           "starts from its parent's trained weights and trains a third of the epochs). Training is counted "
           "in full-data epochs."),
        code("kw = dict(strategy='evolution', max_trials=10, epochs=9, population_size=4, sample_size=2,\n"
             "          early_stopping=False, progress=False)\n"
             "full = mlprod.search(space, (x, y), **kw)\n"
             "lean = mlprod.search(space, (x, y), weight_inheritance=True, early_termination=True, **kw)\n"
             "for name, r in (('full', full), ('inheritance + early termination', lean)):\n"
             "    print(f\"{name:32s} best {r.table['score'].max():.3f} after {r.table['budget'].sum():.0f} epochs\")"),
        code("lean.table[['trial_id', 'score', 'epochs', 'budget', 'warm_start', 'inherited_layers', 'stopped']]"),
        code("import matplotlib.pyplot as plt\nfrom IPython.display import HTML\n\nfrom mlprod.reporting import figure_html\n\n"
             "fig, ax = plt.subplots(figsize=(5, 3))\n"
             "for name, r in (('full', full), ('inheritance + early termination', lean)):\n"
             "    c = r.compute_curve()\n"
             "    ax.step(c['epochs_spent'], c['best_score'], where='post', label=name)\n"
             "ax.set_xlabel('training spent (full-data epochs)'); ax.set_ylabel('best val accuracy')\n"
             "ax.legend()\nHTML(figure_html(fig))"),
    ],
    "monitoring": [
        md("# The production loop: serve, log, monitor, retrain, roll out\n\n"
           "TFX stops at the Pusher. Here the pushed model is served with TF Serving's APIs, every request is "
           "logged, ground truth comes back a month late, and a retraining policy watches drift and decay. "
           "The Chicago taxi trips (bundled, in time order) are the stream: train on 2013, serve from 2014-07. "
           "From 2015-01 on, `trip_miles` arrive in kilometres (covariate shift) and card riders tip the "
           "other way (concept drift): the seed paper's Figure 11, a model decaying after a sudden shift, "
           "made real."),
        code("import logging\nimport tempfile\nimport time\nfrom pathlib import Path\n\nimport pandas as pd\n\nimport mlprod\n"
             "from mlprod import datasets\nfrom mlprod.preprocessing import Categorical, FeatureSpec, Numeric\n"
             "from mlprod.serving import replay\n\n"
             "logging.getLogger('tensorflow').setLevel(logging.ERROR)  # keep the outputs to results\n"
             "NUM, CAT = ['trip_miles', 'fare', 'trip_seconds'], 'payment_type'\n"
             "df = datasets.chicago_taxi().sort_values('trip_start_timestamp')\n"
             "df = df[[*NUM, CAT, 'tips', 'trip_start_timestamp']].dropna().reset_index(drop=True)\n"
             "df['label'] = (df.tips > 0.2 * df.fare).astype(int)  # a good tip\n"
             "df['month'] = pd.to_datetime(df.trip_start_timestamp, unit='s').dt.to_period('M')\n\n\n"
             "def stream(start, end, shift='2015-01'):\n"
             "    \"\"\"One month of trips at a time; from `shift` on, km instead of miles and card riders tip the other way.\"\"\"\n"
             "    for m in pd.period_range(start, end, freq='M'):\n"
             "        w = df[df.month == m].copy()\n"
             "        if m >= pd.Period(shift, 'M'):\n"
             "            w['trip_miles'] *= 1.609\n"
             "            card = w[CAT] == 'Credit Card'\n"
             "            w.loc[card, 'label'] = 1 - w.loc[card, 'label']\n"
             "        yield m, w[[*NUM, CAT, 'trip_start_timestamp', 'label']]\n\n\n"
             "df.groupby('month').size().describe()[['count', 'mean', 'min']]"),
        md("## Train on span 1 (2013) with the tabular pipeline\n\nExampleGen reads the newest span "
           "(`span-{SPAN}/*.csv`); the Evaluator blesses, the Pusher writes version folders."),
        code("work = Path(tempfile.mkdtemp(prefix='loop-'))\n(work / 'data' / 'span-1').mkdir(parents=True)\n"
             "df[df.month < '2014-01'][[*NUM, CAT, 'label']].to_csv(work / 'data' / 'span-1' / 'data.csv', index=False)\n"
             "spec = FeatureSpec(label='label', features=(*(Numeric(n, scale='log') for n in NUM),\n"
             "                                            Categorical(CAT, encoding='onehot', top_k=5)))\n"
             "cfg = mlprod.PipelineConfig(\n"
             "    data_root=work / 'data', span_pattern='span-{SPAN}/*.csv', label='label', feature_spec=spec,\n"
             "    pipeline_root=work / 'root', metadata_path=work / 'metadata.sqlite', model_dir=work / 'serving',\n"
             "    pipeline_name='taxi-loop', min_accuracy=0.6, train_steps=200, hidden_units=(16,), learning_rate=0.01,\n"
             "    beam_args=['--direct_running_mode=in_memory', '--direct_num_workers=1'])\n"
             "first = mlprod.run_pipeline(mlprod.create_pipeline(cfg))\nprint(first)"),
        md("## Serve it, replay the months, and let the policy decide each month\n\n"
           "Requests go through the real server: even months over REST, odd months over gRPC with TF "
           "Serving's own client (`replay`). Labels for a month are fed back when the next month ends. "
           "After each month, `retrain_if` monitors the log; when the policy fires and enough labelled "
           "requests exist, it writes them as span 2, runs the pipeline (the Evaluator compares the "
           "candidate with the serving model) and pushes only a blessed model, which the server picks up."),
        code("policy = mlprod.RetrainPolicy(drift_features=('trip_miles',), last_windows=2, min_labelled_rows=200)\n"
             "watch = dict(window='MS', time_column='trip_start_timestamp', time_unit='s', features=[*NUM, CAT],\n"
             "             reference_windows=3, max_accuracy_drop=0.08, skew=False)\n"
             "logs, events, pending = str(work / 'logs'), [], {}\n"
             "with mlprod.serve(cfg.model_dir, model_name='taxi', rest_port=0, grpc_port=0, log_dir=logs,\n"
             "                  log_flush_interval_s=0.1, poll_s=0.2) as srv:\n"
             "    for m, w in stream('2014-07', '2015-06'):\n"
             "        grpc = m.month % 2 == 1\n"
             "        sent = replay(srv.grpc_target if grpc else srv.rest_url, w, model='taxi', label='label',\n"
             "                      id_prefix=str(m), protocol='grpc' if grpc else 'rest')\n"
             "        assert not sent.failed, sent.failed[:3]\n"
             "        if pending:\n"
             "            mlprod.log_feedback(logs, pending)  # last month's ground truth arrives\n"
             "        pending = sent.labels\n"
             "        time.sleep(0.3)  # one flush interval: the log holds every request\n"
             "        served = srv.versions.default\n"
             "        out = mlprod.retrain_if(logs, cfg, policy, **watch)\n"
             "        if out.pushed:  # the server loads the new version and swaps without a failed request\n"
             "            deadline = time.monotonic() + 60\n"
             "            while srv.versions.default == served and time.monotonic() < deadline:\n"
             "                time.sleep(0.1)\n"
             "        events.append({'month': str(m), 'via': 'gRPC' if grpc else 'REST', 'requests': sent.sent,\n"
             "                       'served by': served, 'fire': bool(out.decision), 'retrained': out.run is not None,\n"
             "                       'pushed': out.pushed, 'now serving': srv.versions.default,\n"
             "                       'why': '; '.join(out.decision.reasons)[:60] or out.note[:60]})\n"
             "    mlprod.log_feedback(logs, pending)\n"
             "pd.DataFrame(events)"),
        md("## Served accuracy over time (Figure 11, made real)\n\nMeasured accuracy where labels "
           "arrived (solid) and the confidence-based estimate (dotted), per model version; the alarm and "
           "the swap marked."),
        code("from IPython.display import HTML\n\nfrom mlprod.reporting import figure_html\n\n"
             "result = mlprod.monitor(logs, label='label', **watch)\n"
             "w = result.windows.set_index('window')\n"
             "table = pd.DataFrame({'month': pd.to_datetime(w['start']).dt.strftime('%Y-%m'), 'served by': w['model_version'],\n"
             "                      'accuracy': result.series('accuracy').set_index('window')['value'],\n"
             "                      'estimated': result.series('estimated_accuracy').set_index('window')['value']})\n"
             "print(table.round(3).to_string(index=False))\n"
             "HTML(figure_html(result.plot_accuracy().figure))"),
        md("## The registry: which version serves, what each was trained on"),
        code("mlprod.registry(cfg.metadata, cfg.model_dir)"
             "[['version', 'stage', 'blessed', 'accuracy', 'spans', 'baseline_model_id']]"),
    ],
    "optimization": [
        md("# Edge optimization\n\nPost-training quantization, quantization-aware training and pruning to "
           "TFLite, measured on the real TFLite interpreter (scikit-learn's bundled 8x8 digits)."),
        code("import numpy as np\nimport tf_keras as keras\nfrom sklearn.datasets import load_digits\n\n"
             "import mlprod\n\nd = load_digits()\nx, y = (d.data / 16).astype('float32'), d.target\n"
             "keras.utils.set_random_seed(0)\n"
             "model = keras.Sequential([keras.layers.Dense(64, activation='relu', input_shape=(64,)),\n"
             "                          keras.layers.Dense(10, activation='softmax')])\n"
             "model.compile('adam', 'sparse_categorical_crossentropy', metrics=['accuracy'])\n"
             "model.fit(x[:1400], y[:1400], epochs=10, verbose=0);"),
        code("result = mlprod.optimize(model, (x[:1400], y[:1400], x[1400:], y[1400:]),\n"
             "                         techniques=['float', 'dynamic', 'int8', 'qat', 'prune_int8'],\n"
             "                         fine_tune_epochs=1, latency_samples=50)\nresult"),
        md("Accuracy drops are fractions (`max_accuracy_drop=0.01` is one accuracy point; the table's "
           "`accuracy_drop` too). `passing()` lists the models within it, `best()` the smallest of them."),
        code("result.passing(max_accuracy_drop=0.01)[['technique', 'accuracy_drop', 'gzip_bytes']]"),
        code("result.best(max_accuracy_drop=0.01)"),
    ],
}

PATH_PATTERNS = (r"/tmp/[^\s'\"<>)]*", r"/work/[^\s'\"<>)]*", r"/root/[^\s'\"<>)]*", r"/opt/mlprod-venv[^\s'\"<>)]*",
                 r"/home/[^\s'\"<>)]*")


def scrub(text: str) -> str:
    """Machine-specific paths in outputs become ``<path>`` (committed notebooks name no machine)."""
    import re

    for pat in PATH_PATTERNS:
        text = re.sub(pat, "<path>", text)
    return text


LOG_LINES = ("INFO:", "WARNING:tensorflow:", "WARNING:absl:", "Instructions for updating:", "Use `tf.data",
             "`tf.data.TFRecordDataset", "Use eager execution")


def drop_log_lines(text: str) -> str:
    """Library log lines that reach stdout (TFX's runner logs through it) are not results."""
    return "".join(ln for ln in text.splitlines(keepends=True) if not ln.startswith(LOG_LINES))


def execute(nb: "nbf.NotebookNode", workdir: str) -> "nbf.NotebookNode":
    """Run every cell (cwd ``workdir``), keep outputs small and free of this machine's paths."""
    import os

    from nbclient import NotebookClient

    os.environ["PYTHONPATH"] = str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")
    os.environ.setdefault("MPLBACKEND", "Agg")
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": workdir}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                if out.get("name") == "stderr":  # TensorFlow/absl log noise, not results
                    out["text"] = ""
                out["text"] = scrub(drop_log_lines(out.get("text", "")))
            for mime, value in list(out.get("data", {}).items()):
                if isinstance(value, str) and not mime.startswith("image/"):
                    out["data"][mime] = scrub(value)
        cell["outputs"] = [o for o in cell.get("outputs", []) if not (o.get("output_type") == "stream"
                                                                      and not o.get("text"))]
    return nb


def to_markdown(nb: "nbf.NotebookNode", name: str) -> None:
    """docs/notebooks/<name>.md (and its images), rendered from the executed notebook."""
    from nbconvert import MarkdownExporter

    docs = HERE.parent / "docs" / "notebooks"
    body, resources = MarkdownExporter().from_notebook_node(nb, resources={"output_files_dir": f"{name}_files"})
    files = docs / f"{name}_files"
    for old in files.glob("*"):
        old.unlink()
    for rel, data in resources.get("outputs", {}).items():
        (docs / rel).parent.mkdir(parents=True, exist_ok=True)
        (docs / rel).write_bytes(data)
    header = f"<!-- generated by notebooks/_build.py --execute from notebooks/{name}.ipynb; do not edit -->\n\n"
    (docs / f"{name}.md").write_text(header + body, encoding="utf-8")


if __name__ == "__main__":
    import sys
    import tempfile

    run = "--execute" in sys.argv
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    for name, cells in NOTEBOOKS.items():
        if only and name not in only:
            continue
        nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3",
                                                                         "display_name": "Python 3"}})
        if run:
            print(f"executing {name} ...", flush=True)
            nb = execute(nb, tempfile.mkdtemp(prefix=f"nb-{name}-"))
            to_markdown(nb, name)
        nbf.write(nb, HERE / f"{name}.ipynb")
