"""NAS in TFX: a ``tuner_fn`` for TFX's standard Tuner, built from the same search spaces.

TFX imports ``tuner_fn`` by module path and passes ``custom_config``; Trainer then rebuilds the
chosen architecture in tf_keras from the Tuner's best hyperparameters
(:func:`build_from_hyperparameters`).

Example:
    (Needs a pipeline or a run's outputs; tests/pipelines/test_penguin.py runs this path.)
    >>> tuner = tfx.components.Tuner(tuner_fn="mlprod.tuning.tfx_fn.tuner_fn",
    ...     examples=transform.outputs["transformed_examples"],
    ...     transform_graph=transform.outputs["transform_graph"],
    ...     train_args=tfx.proto.TrainArgs(num_steps=50), eval_args=tfx.proto.EvalArgs(num_steps=5),
    ...     custom_config={"label": "species", "num_classes": 3, "strategy": "evolution",
    ...                    "max_trials": 4, "epochs": 2})                               # doctest: +SKIP

``custom_config`` also takes ``early_termination``, ``fidelity`` (``"epochs"``/``"data"``, for
``hyperband`` and ``asha``), ``weight_inheritance`` and ``inherited_epochs`` (evolution), as
:func:`mlprod.search` does.
"""
from __future__ import annotations

from typing import Any

from mlprod.tuning.spaces import DenseSpace

SPACE_KEYS = ("depth", "width", "activations", "dropout", "batch_norm", "learning_rate", "optimizers")


def feature_widths(tf_transform_output: Any, label: str) -> dict[str, int]:
    """Transformed feature name -> width (scalars 1), sorted by name: the model's input layout."""
    spec = tf_transform_output.transformed_feature_spec()
    return {k: int(v.shape[0]) if len(v.shape) else 1 for k, v in sorted(spec.items()) if k != label}


def space_from_config(cfg: dict[str, Any], input_dim: int) -> DenseSpace:
    """The DenseSpace described by ``custom_config``.

    The space's fields (keys of :data:`SPACE_KEYS`, lists ok) are read from ``cfg["nas_space"]``
    when present (the Trainer's config, whose own ``learning_rate`` is a plain float), else from
    ``cfg`` itself (the Tuner's config).

    Raises:
        ConfigError: a field is not a list/tuple of bounds or choices.

    Example:
        >>> space_from_config({"num_classes": 3, "learning_rate": 0.01,
        ...                    "nas_space": {"depth": [1, 2]}}, 4).depth
        (1, 2)
    """
    from mlprod.errors import ConfigError

    src = cfg.get("nas_space", cfg)
    kw = {}
    for k in SPACE_KEYS:
        if k not in src:
            continue
        if not isinstance(src[k], (list, tuple)):
            raise ConfigError(f"tune[{k!r}]={src[k]!r}: give a list of bounds or choices, e.g. "
                              f"{k}={list(getattr(DenseSpace, k, ()))!r}.")
        kw[k] = tuple(src[k])
    return DenseSpace(input_shape=(input_dim,), num_classes=int(cfg["num_classes"]), **kw)


def concat_features(features: dict[str, Any], names: list[str]) -> Any:
    """One float32 ``[batch, sum(widths)]`` matrix from transformed features, in ``names`` order."""
    import tensorflow as tf

    cols = []
    for n in names:
        x = tf.cast(features[n], tf.float32)
        cols.append(tf.reshape(x, [-1, 1]) if x.shape.rank == 1 else x)
    return tf.concat(cols, axis=1)


def tuner_fn(fn_args: Any) -> Any:
    """Build the Keras Tuner (Keras 3 models) and fit arguments for TFX's Tuner component."""
    import tensorflow_transform as tft
    from tfx.components.tuner.component import TunerFnResult
    from tfx_bsl.public import tfxio

    from mlprod.tuning.estimation import tuner_callback
    from mlprod.tuning.strategies import make_oracle
    from mlprod.tuning.tuner import BudgetTuner

    cfg = fn_args.custom_config
    label = cfg["label"]
    tft_out = tft.TFTransformOutput(fn_args.transform_graph_path)
    widths = feature_widths(tft_out, label)
    names = list(widths)
    space = space_from_config(cfg, sum(widths.values()))

    def dataset(files: list[str]) -> Any:
        ds = fn_args.data_accessor.tf_dataset_factory(
            files, tfxio.TensorFlowDatasetOptions(batch_size=32, label_key=label), tft_out.transformed_metadata.schema)
        return ds.map(lambda f, y: (concat_features(f, names), y)).repeat()

    epochs = int(cfg.get("epochs", 2))
    fidelity = str(cfg.get("fidelity", "epochs"))
    inherit = bool(cfg.get("weight_inheritance", False))
    oracle = make_oracle(cfg.get("strategy", "random"), "val_accuracy", int(cfg.get("max_trials", 4)),
                         epochs, int(cfg.get("seed", 0)), fidelity=fidelity, weight_inheritance=inherit)
    # the same tuner as mlprod.search: Hyperband/ASHA rungs (epochs or data share), inherited weights
    tuner = BudgetTuner(oracle=oracle, hypermodel=lambda hp: space.build(hp, backend="keras"),
                        directory=fn_args.working_dir, project_name="mlprod_nas", overwrite=True,
                        fidelity=fidelity,
                        inherited_epochs=int(cfg.get("inherited_epochs") or -(-epochs // 3)) if inherit else None)
    # early_termination: stop trials whose extrapolated learning curve cannot beat the best one
    budget = tuner_callback(tuner, "val_accuracy", epochs, tuner.record, bool(cfg.get("early_termination", False)),
                            validation_rows=int(fn_args.eval_steps or 0) * 32 or None)  # rows scored per epoch
    return TunerFnResult(tuner=tuner, fit_kwargs={
        "x": dataset(fn_args.train_files), "validation_data": dataset(fn_args.eval_files),
        "steps_per_epoch": fn_args.train_steps, "validation_steps": fn_args.eval_steps,
        "epochs": epochs, "verbose": 0, "callbacks": [budget]})


def build_from_hyperparameters(hparams: dict[str, Any] | Any, cfg: dict[str, Any], input_dim: int) -> Any:
    """The tuned architecture as a compiled tf_keras model over a ``[batch, input_dim]`` matrix."""
    import keras_tuner as kt

    hp = hparams if isinstance(hparams, kt.HyperParameters) else kt.HyperParameters.from_config(hparams)
    return space_from_config(cfg, input_dim).build(hp, backend="tf_keras")
