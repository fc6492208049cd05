"""TFX wiring for preprocessing: TFX's standard Transform driven by a :class:`FeatureSpec`.

Example:
    (Needs a pipeline or a run's outputs; tests/pipelines/test_chicago_taxi.py runs this path.)
    >>> from mlprod.components import transform_component
    >>> from mlprod.preprocessing import FeatureSpec, Numeric
    >>> transform = transform_component(example_gen.outputs["examples"], schema_gen.outputs["schema"],
    ...                                 FeatureSpec(label="tips", features=(Numeric("fare"),)))  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any

from mlprod.preprocessing.spec import FeatureSpec
from mlprod.preprocessing.tfx_fn import custom_config


def transform_component(examples: Any, schema: Any, spec: FeatureSpec, *, extra_fn: str | None = None,
                        **kwargs: Any) -> Any:
    """TFX's standard ``Transform`` driven by ``spec`` (``kwargs`` go to Transform).

    Args:
        examples, schema: channels from ExampleGen and SchemaGen (or SchemaCurator).
        spec: the feature spec.
        extra_fn: module path of ``fn(inputs) -> dict`` whose outputs are merged in (e.g. a
            derived label), as in :func:`build_preprocessing_fn`.
    """
    from tfx import v1 as tfx

    return tfx.components.Transform(examples=examples, schema=schema,
                                    preprocessing_fn="mlprod.preprocessing.tfx_fn.preprocessing_fn",
                                    custom_config=custom_config(spec, extra_fn), **kwargs)
