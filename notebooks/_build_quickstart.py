"""Regenerate notebooks/quickstart.ipynb (run: scripts/in-env python notebooks/_build_quickstart.py)."""
from pathlib import Path

import nbformat as nbf

cells = [
    nbf.v4.new_markdown_cell("# mlprod quickstart\n\nOne import, one call per capability. This notebook "
                             "runs the penguin pipeline end to end on TFX's local runner with Beam, then "
                             "looks at what it recorded in ML Metadata."),
    nbf.v4.new_code_cell("import tempfile\n\nimport mlprod\nfrom mlprod import datasets\n\n"
                         "print(mlprod.__version__)\ndatasets.penguins().head()"),
    nbf.v4.new_markdown_cell("## Run the example pipeline\n\nCsvExampleGen → StatisticsGen → SchemaGen → "
                             "ExampleValidator → Transform → Trainer → Evaluator → Pusher."),
    nbf.v4.new_code_cell("from mlprod.pipelines import penguin\n\n"
                         "out = tempfile.mkdtemp(prefix='penguin-')\n"
                         "summary = mlprod.run_pipeline(penguin.create_pipeline(penguin.config(out, train_steps=150)))\n"
                         "print(summary)\nassert summary.blessed"),
    nbf.v4.new_markdown_cell("## The model registry view (ML Metadata)"),
    nbf.v4.new_code_cell("from mlprod.pipelines import metadata\n\n"
                         "metadata.models(summary.metadata_path)"),
]
nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
nbf.write(nb, Path(__file__).with_name("quickstart.ipynb"))
