"""``make demo``: run the penguin pipeline end to end and print where everything is.

Usage: ``python -m mlprod.pipelines.demo [OUTPUT_DIR]`` (default ``./demo-output``). A second
run reuses the cached executions of the first and finishes in seconds.
"""
from __future__ import annotations

import sys
from pathlib import Path

from mlprod.errors import MlprodError


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the process exit code (0 when the model was blessed and pushed)."""
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else "demo-output").resolve()
    from mlprod.pipelines import penguin
    from mlprod.pipelines.runner import run_pipeline

    print(f"mlprod demo: running the penguin pipeline (TFX LocalDagRunner, Beam DirectRunner) in {out}",
          flush=True)
    try:
        summary = run_pipeline(penguin.create_pipeline(penguin.config(out)))
    except MlprodError as e:
        print(f"mlprod demo failed: {e}", file=sys.stderr)
        return 1
    print("\n" + str(summary))
    return 0 if summary.pushed_model else 3


if __name__ == "__main__":
    sys.exit(main())
