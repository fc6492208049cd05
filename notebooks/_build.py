"""Regenerate the notebooks from these cell lists: scripts/in-env python notebooks/_build.py

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
}

for name, cells in NOTEBOOKS.items():
    nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    nbf.write(nb, HERE / f"{name}.ipynb")
