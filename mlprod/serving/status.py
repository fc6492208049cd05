"""What REST and gRPC answer alike: the status of a request error, and request ids.

:func:`error_status` maps an exception to TF Serving's status (HTTP code, one-line message; the
gRPC handler maps the HTTP code to its ``StatusCode``); :func:`new_request_id` makes the
``X-Request-Id`` of a request that brought none.

Example:
    >>> from mlprod.errors import NotFound
    >>> error_status(NotFound("model 'x' is not served here"))
    (404, "model 'x' is not served here")
"""
from __future__ import annotations

import itertools
import uuid

from mlprod.errors import ConfigError, DataError, NotFound, PermissionDenied, Unauthenticated, Unavailable


def error_status(e: BaseException, draining: bool = False) -> tuple[int, str]:
    """(HTTP status, one-line message) of a request error, as TF Serving maps its status codes."""
    msg = str(e)
    try:
        import tensorflow as tf

        if isinstance(e, tf.errors.OpError):
            lines = [ln.strip() for ln in e.message.splitlines()]
            # parse errors name the feature after "Name: <unknown>, " (the example has no name):
            # "Key: x, Index: 0.  Data types don't match..." or "Feature: x (data type: float) is required..."
            named = [" ".join(ln.split("Name: <unknown>, ", 1)[-1].split()) for ln in lines
                     if "Feature:" in ln or "Key:" in ln]
            useful = [ln for ln in lines if ln and not ln.startswith(("Graph execution error", "Detected at node",
                                                                      "<stack", "[["))]
            msg = (named or useful or [type(e).__name__])[0]
            return (400 if isinstance(e, (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError)) else 500), msg
    except ImportError:  # pragma: no cover
        pass
    if isinstance(e, Unauthenticated):
        return 401, msg
    if isinstance(e, PermissionDenied):
        return 403, msg
    if isinstance(e, NotFound):
        return 404, msg
    if isinstance(e, Unavailable) or (isinstance(e, RuntimeError) and draining):
        return 503, msg
    if isinstance(e, KeyError):  # str() of a KeyError is the repr of its key
        return 400, str(e.args[0]) if e.args else msg
    if isinstance(e, (DataError, ConfigError, ValueError, TypeError)):
        return 400, msg
    return 500, f"{type(e).__name__}: {msg}"


_ID_PREFIX = uuid.uuid4().hex[:20]  # random per process: ids stay unique across servers and restarts
_ID_COUNTER = itertools.count()


def new_request_id() -> str:
    """A 32-hex-digit id unique to this request: a random per-process prefix and a counter.

    (``uuid4`` per request reads the OS's random source each time: ~14 us under load.)

    Example:
        >>> a, b = new_request_id(), new_request_id()
        >>> len(a), a != b, a[:20] == b[:20]
        (32, True, True)
    """
    return f"{_ID_PREFIX}{next(_ID_COUNTER):012x}"
