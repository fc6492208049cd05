"""The peer of bench_serving: a plain single-request FastAPI endpoint calling the same SavedModel.

What a user writes without a model server: parse the JSON, build the tf.Examples, call the
signature, answer. No batching, no logging, no version handling.

Usage (bench_serving starts it): python -m benchmarks.plain_endpoint MODEL_DIR PORT

``MODEL_DIR`` ``-``: no model at all, a constant answer: the ceiling of this HTTP stack and load
generator on the machine (what no server written this way can beat).
"""
from __future__ import annotations

import sys

import tensorflow as tf
import uvicorn
from fastapi import FastAPI, Request

from mlprod.serving.codec import example_from_features

app = FastAPI()
fn = tf.saved_model.load(sys.argv[1]).signatures["serving_default"] if sys.argv[1] != "-" else None


@app.post("/v1/models/penguin:predict")
async def predict(request: Request) -> dict:
    body = await request.json()
    if fn is None:  # the ceiling: parse and answer, no model
        return {"predictions": [[1.0, 0.0, 0.0] for _ in body["instances"]]}
    examples = [example_from_features(i) for i in body["instances"]]
    out = fn(examples=tf.constant(examples))["outputs"].numpy()
    return {"predictions": out.tolist()}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
