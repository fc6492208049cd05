"""Process-level workarounds for the stack we wrap (one home for them).

TensorFlow Transform 1.21 on TensorFlow 2.21 leaves reference cycles behind every analysis
(TF graph/function objects tied to Beam's worker state) whose collection segfaults: the
interpreter's final garbage collection kills a script that finished its work with status 139,
and a full ``gc.collect()`` later in a notebook can kill the kernel (reproduced with a plain
10-row ``tft_beam.AnalyzeDataset``, no mlprod involved; ``faulthandler`` shows the crash inside
"Garbage-collecting", no Python frame). Closing sessions or collecting early does not help.

The narrowest reliable workaround: once such a run is over, move every object alive at that
point into the garbage collector's permanent generation (``gc.freeze()``). Those cycles are then
never traversed, so nothing segfaults; objects still free normally when their reference count
drops, and the process's memory goes back to the OS at exit. The cost is that the run's own
cyclic garbage (a few MB per run) is not reclaimed until the process ends.

Example:
    >>> after_tft_run()
    >>> import gc
    >>> gc.get_freeze_count() > 0
    True
"""
from __future__ import annotations

import gc


def after_tft_run() -> None:
    """Shield the process from the exit-time segfault of TFT's leftover cycles (see module doc)."""
    gc.freeze()
