"""The whole retraining loop (``mlprod.retrain_if``): monitor the request log, decide with a
:class:`~mlprod.monitoring.RetrainPolicy`, write the next span, and run the tabular pipeline on it
so that only a blessed model is pushed. It lives with the pipelines because it runs one; the
monitoring core (:mod:`mlprod.monitoring.retrain`: policy, decision, new span) never imports a
pipeline.

Example:
    (tests/monitoring/test_retrain.py runs this.)
    >>> import mlprod
    >>> out = mlprod.retrain_if("/srv/logs/penguin", config, mlprod.RetrainPolicy(max_age="30D"))  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any

from mlprod._compat import renamed
from mlprod.monitoring.retrain import RetrainOutcome, RetrainPolicy, plan_retrain


@renamed(baseline="reference")
def retrain_if(logs: Any, config: Any, policy: RetrainPolicy | None = None, *, reference: Any = None,
               label: str | None = None, window: int | str = "1D", features: list[str] | None = None,
               time_column: str = "_timestamp_ms", time_unit: str = "ms", dry_run: bool = False,
               now: Any = None, **monitor_kwargs: Any) -> RetrainOutcome:
    """Monitor the request log; when ``policy`` fires, retrain on a new span and roll out only a blessed model.

    Args:
        logs: the server's request-log folder (``serve(log_dir=...)``) or a DataFrame of requests.
        config: the :class:`~mlprod.pipelines.tabular.PipelineConfig` that trained the serving model,
            with ``span_pattern`` and the same ``model_dir`` the server watches.
        policy: when to retrain (default: any drift, measured or estimated decay).
        reference: training data for skew (optional; ``baseline=``: its old name); label: the label column (default the config's).
        window, features, time_column, time_unit, **monitor_kwargs: as for :func:`mlprod.monitor`.
        dry_run: decide and report, never write a span or run the pipeline.

    Returns:
        A :class:`~mlprod.monitoring.RetrainOutcome`.

    Raises:
        ConfigError: a config without ``span_pattern``; DataError: logs without the training columns.

    Example:
        (tests/monitoring/test_retrain.py runs this.)
        >>> out = retrain_if("/srv/logs/penguin", penguin_config, RetrainPolicy(max_age="7D"))  # doctest: +SKIP
        >>> out.pushed                                                                         # doctest: +SKIP
        True
    """
    outcome = plan_retrain(logs, config, policy, reference=reference, label=label, window=window, features=features,
                           time_column=time_column, time_unit=time_unit, dry_run=dry_run, now=now, **monitor_kwargs)
    if outcome.span is None:
        return outcome
    from mlprod.pipelines.runner import run_pipeline
    from mlprod.pipelines.tabular import create_pipeline  # lazy: TFX loads only when a retrain runs

    outcome.run = run_pipeline(create_pipeline(config))
    return outcome
