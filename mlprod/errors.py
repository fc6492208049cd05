"""One exception family for mlprod (as ``keras_tuner.errors``).

Every error names the offending thing (file, feature, parameter) and the fix.

Example:
    >>> from mlprod.errors import DataError
    >>> try:
    ...     raise DataError("column 'species' not found in penguins.csv; pass label='...'")
    ... except ValueError as e:   # DataError is also a ValueError
    ...     print(type(e).__name__)
    DataError
"""
from __future__ import annotations


class MlprodError(Exception):
    """Base class of every error mlprod raises on purpose."""


class DataError(MlprodError, ValueError):
    """Input data is missing, empty, unreadable, or does not have the expected shape/columns."""


class ConfigError(MlprodError, ValueError):
    """A spec, config or argument is invalid (unknown name, out-of-range value, contradiction)."""


class PipelineError(MlprodError, RuntimeError):
    """A pipeline run failed, or a gate (validation, blessing) stopped it on purpose."""


class NotFound(DataError):
    """An unknown model, version, version label or signature (HTTP 404 / gRPC NOT_FOUND)."""


class Unavailable(MlprodError, RuntimeError):
    """The server cannot take the request now: it is shutting down (HTTP 503 / gRPC UNAVAILABLE); retry elsewhere."""


class Unauthenticated(MlprodError, PermissionError):
    """A request brought no API key, or one that is unknown or expired (HTTP 401 / gRPC UNAUTHENTICATED)."""


class PermissionDenied(MlprodError, PermissionError):
    """A valid API key whose scopes do not cover the model asked for (HTTP 403 / gRPC PERMISSION_DENIED)."""
