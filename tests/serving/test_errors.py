"""Errors that reach users from the batcher and the server are mlprod.errors classes (issue 27),
still subclasses of the builtin they replaced, and map to TF Serving's status codes."""
from __future__ import annotations

import numpy as np
import pytest

from mlprod.errors import DataError, MlprodError, Unavailable
from mlprod.serving.batching import Batcher
from mlprod.serving.status import error_status


def test_batcher_errors_are_mlprod_errors():
    b = Batcher(lambda key, x: {"y": x["a"] * 2}, max_batch_size=4, batch_timeout_s=0.001)
    try:
        fut = b.submit("k", {"a": np.zeros(3), "b": np.zeros(2)})
        with pytest.raises(DataError, match="same batch size") as bad:
            fut.result(timeout=5)
        assert isinstance(bad.value, ValueError) and error_status(bad.value)[0] == 400
    finally:
        b.close()
    with pytest.raises(Unavailable, match="shutting down") as closed:
        b.submit("k", {"a": np.zeros(1)})
    assert isinstance(closed.value, RuntimeError) and isinstance(closed.value, MlprodError)
    assert error_status(closed.value) == (503, str(closed.value))  # without the server's draining flag too
