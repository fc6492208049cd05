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
             "[(f.name, round(f.float_domain.min, 2), round(f.float_domain.max, 2)) for f in schema.feature[1:]]"),
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
           "Analysis, on a small model trained here on the Chicago taxi data."),
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
        code("from mlprod._examples import serialized\n\n"
             "served = result.serving_fn()(tf.constant(serialized(taxi.drop(columns=['tips']).head(3))))\n"
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
        code("result.trials[['trial_id', 'status', 'score', 'params', 'fits_budget']]"),
        code("type(result.best_model).__module__, result.best_model.count_params()"),
        md("## Spending less compute\n\nThe same evolution search twice: every trial trained in full, then "
           "with early termination (hopeless learning curves are stopped) and weight inheritance (a child "
           "starts from its parent's trained weights and trains a third of the epochs). Training is counted "
           "in full-data epochs."),
        code("kw = dict(strategy='evolution', max_trials=10, epochs=9, population_size=4, sample_size=2,\n"
             "          early_stopping=False, verbose=False)\n"
             "full = mlprod.search(space, (x, y), **kw)\n"
             "lean = mlprod.search(space, (x, y), weight_inheritance=True, early_termination=True, **kw)\n"
             "for name, r in (('full', full), ('inheritance + early termination', lean)):\n"
             "    print(f\"{name:32s} best {r.trials['score'].max():.3f} after {r.trials['budget'].sum():.0f} epochs\")"),
        code("lean.trials[['trial_id', 'score', 'epochs', 'budget', 'warm_start', 'inherited_layers', 'stopped']]"),
        code("import matplotlib.pyplot as plt\nfrom IPython.display import HTML\n\nfrom mlprod.reporting import figure_html\n\n"
             "fig, ax = plt.subplots(figsize=(5, 3))\n"
             "for name, r in (('full', full), ('inheritance + early termination', lean)):\n"
             "    c = r.compute_curve()\n"
             "    ax.step(c['epochs_spent'], c['best_score'], where='post', label=name)\n"
             "ax.set_xlabel('training spent (full-data epochs)'); ax.set_ylabel('best val accuracy')\n"
             "ax.legend()\nHTML(figure_html(fig))"),
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
        code("result.best(max_drop=1.0)"),
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
                out["text"] = scrub(out.get("text", ""))
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
