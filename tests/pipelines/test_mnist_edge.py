"""End to end: MNIST trained, optimized to TFLite, measured on the interpreter, blessed and pushed."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlprod.pipelines import mnist_edge
from mlprod.pipelines.runner import run_pipeline


@pytest.mark.slow
def test_mnist_edge_pipeline(tmp_path):
    cfg = mnist_edge.config(tmp_path, techniques="float,int8,prune_int8", train_steps=200)
    summary = run_pipeline(mnist_edge.create_pipeline(cfg))
    assert summary.executions["EdgeOptimizer"] == "COMPLETE"
    assert summary.blessed and summary.pushed_model and summary.pushed_model.startswith(str(cfg.model_dir))
    models = Path(summary.artifacts["mlprod.TFLiteModels"])
    metrics = pd.read_csv(models / "metrics.csv").set_index("technique")
    assert metrics.loc["keras", "accuracy"] > 0.8
    assert metrics.loc["int8", "size_bytes"] * 3.5 < metrics.loc["float", "size_bytes"]
    pushed = sorted(Path(cfg.model_dir).glob("*/model.tflite"))
    assert len(pushed) == 1
    from mlprod._tflite import run_tflite
    from mlprod.datasets import mnist

    x, y = mnist()
    acc = np.mean(np.argmax(run_tflite(str(pushed[0]), x[:200]), 1) == y[:200])
    assert acc > 0.8
