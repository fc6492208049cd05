"""SVD and NMF for the spec: the full-pass analyzers (TFT/Beam) and the in-graph projections.

* SVD: ``tft.sum`` of the per-batch uncentered second moments ``X'X`` (float64, one exact pass);
  the graph takes its top eigenvectors (the right singular vectors) and projects ``x @ V``.
* NMF: a bounded, reproducible uniform sample of rows (a Beam ``CombineFn`` that also refuses
  negative values), fitted with :func:`nmf_fit` on the worker; the graph solves each row's
  non-negative least squares against the fitted ``H``.

Example:
    >>> import numpy as np
    >>> x = np.abs(np.random.default_rng(0).normal(size=(200, 5)))
    >>> h = nmf_fit(x, 2)
    >>> h.shape, bool((h >= 0).all())
    ((2, 5), True)
"""
from __future__ import annotations

import logging
import zlib
from typing import Any

import apache_beam as beam
import numpy as np

from mlprod.errors import DataError

NMF_TOL = 1e-4
log = logging.getLogger("mlprod.preprocessing")


def svd_flip_columns(v: Any) -> Any:
    """``v`` (a ``[d, k]`` tensor) with each column signed so its largest-magnitude entry is positive."""
    import tensorflow as tf

    idx = tf.argmax(tf.abs(v), axis=0, output_type=tf.int32)
    top = tf.gather_nd(v, tf.stack([idx, tf.range(tf.shape(v)[1], dtype=tf.int32)], axis=1))
    return v * tf.where(top < 0, tf.constant(-1.0, v.dtype), tf.constant(1.0, v.dtype))[tf.newaxis, :]


def svd_project(x: Any, components: int) -> Any:
    """Truncated-SVD projection of float64 ``x`` ``[batch, d]``: ``x @ V_k`` (an analyzer over ``X'X``)."""
    import tensorflow as tf
    import tensorflow_transform as tft

    gram = tft.sum(tf.matmul(x, x, transpose_a=True)[tf.newaxis], reduce_instance_dims=False)
    _, vectors = tf.linalg.eigh(gram)  # ascending eigenvalues
    v = svd_flip_columns(tf.reverse(vectors, axis=[1])[:, :components])
    return tf.matmul(x, v)


def _nndsvda(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """NNDSVD initialisation (Boutsidis & Gallopoulos 2008), zeros filled with the data mean."""
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    w, h = np.zeros((x.shape[0], k)), np.zeros((k, x.shape[1]))
    w[:, 0], h[0] = np.sqrt(s[0]) * np.abs(u[:, 0]), np.sqrt(s[0]) * np.abs(vt[0])
    for j in range(1, k):
        a, b = u[:, j], vt[j]
        ap, an, bp, bn = np.maximum(a, 0), np.maximum(-a, 0), np.maximum(b, 0), np.maximum(-b, 0)
        pos = np.linalg.norm(ap) * np.linalg.norm(bp)
        neg = np.linalg.norm(an) * np.linalg.norm(bn)
        a, b, m = (ap, bp, pos) if pos >= neg else (an, bn, neg)
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        if m > 0:
            w[:, j], h[j] = np.sqrt(s[j] * m) * a / na, np.sqrt(s[j] * m) * b / nb
    avg = x.mean()
    w[w == 0], h[h == 0] = avg, avg
    return w, h


def _hals(a: np.ndarray, gram: np.ndarray, rhs: np.ndarray) -> None:
    """One coordinate-descent sweep over the rows of ``a`` (``min ||X - a' B||``, in place)."""
    for j in range(a.shape[0]):
        if gram[j, j] > 0:
            a[j] = np.maximum(a[j] + (rhs[j] - gram[j] @ a) / gram[j, j], 0.0)


def nmf_fit(x: np.ndarray, k: int, max_iter: int = 400, tol: float = NMF_TOL) -> np.ndarray:
    """NMF components ``H`` (``[k, d]``) of non-negative ``x`` (``[n, d]``), Frobenius loss.

    scikit-learn's default recipe: NNDSVDa start, alternating coordinate descent on ``W`` and
    ``H``, stopped when the relative decrease of the error over 10 sweeps is below ``tol``.

    Example:
        >>> x = np.array([[1.0, 0.0, 2.0], [2.0, 0.0, 4.0], [0.0, 3.0, 0.0]])
        >>> h = nmf_fit(x, 2)
        >>> w = np.maximum(x @ np.linalg.pinv(h), 0)
        >>> bool(np.linalg.norm(x - w @ h) < 1e-3)
        True
    """
    x = np.asarray(x, dtype=np.float64)
    w, h = _nndsvda(x, k)
    wt, norm2 = w.T.copy(), float((x * x).sum())
    previous = None
    for it in range(max_iter):
        _hals(wt, h @ h.T, h @ x.T)  # W update (as rows of W')
        wtw = wt @ wt.T
        _hals(h, wtw, wt @ x)
        if it % 10 == 9:
            err = np.sqrt(max(norm2 - 2 * float((h * (wt @ x)).sum()) + float((wtw * (h @ h.T)).sum()), 0.0))
            if previous is not None and previous - err < tol * max(previous, 1e-300):
                break
            previous = err
    return h


class RowSample(beam.CombineFn):
    """A Beam ``CombineFn`` keeping a uniform sample of at most ``size`` rows of ``[batch, d]``
    arrays, and failing on negative values (naming the feature and column).

    Each row gets a random key from a generator seeded by its batch's bytes; the rows with the
    smallest keys are kept, so the same batches give the same sample on any runner.
    """

    def __init__(self, size: int, owner: str, columns: tuple[str, ...]) -> None:
        self.size, self.owner, self.columns = size, owner, tuple(columns)

    def create_accumulator(self) -> Any:
        return (np.zeros(0), np.zeros((0, len(self.columns))), 0)

    def _prune(self, keys: np.ndarray, rows: np.ndarray, n: int) -> Any:
        if len(keys) > self.size:
            keep = np.argpartition(keys, self.size - 1)[: self.size]
            keys, rows = keys[keep], rows[keep]
        return keys, rows, n

    def add_input(self, acc: Any, batch: Any) -> Any:
        x = np.asarray(batch[0], dtype=np.float64).reshape(-1, len(self.columns))
        negative: np.ndarray = np.asarray((x < 0).any(axis=0))
        if negative.any():
            bad = [c for i, c in enumerate(self.columns) if negative[i]]
            raise DataError(f"{self.owner} needs non-negative inputs, but column(s) {bad} hold negative values "
                            f"(e.g. {float(x.min()):g}); clip or shift them first (in the data, or with "
                            "Numeric(..., clip=(0, ...)) before the spec), or use SVD, which takes any sign.")
        rng = np.random.default_rng(zlib.crc32(np.ascontiguousarray(x).tobytes()))
        keys = np.concatenate([acc[0], rng.random(len(x))])
        return self._prune(keys, np.concatenate([acc[1], x]), acc[2] + len(x))

    def merge_accumulators(self, accs: Any) -> Any:
        accs = list(accs)
        return self._prune(np.concatenate([a[0] for a in accs]), np.concatenate([a[1] for a in accs]),
                           sum(a[2] for a in accs))

    def extract_output(self, acc: Any) -> Any:
        return acc


def _fit_sample(acc: Any, k: int, max_iter: int, owner: str) -> np.ndarray:
    keys, rows, n = acc
    if len(rows) < k:
        raise DataError(f"{owner} got {len(rows)} row(s) to fit {k} components; give it more data.")
    if not rows.any():
        raise DataError(f"{owner}: every input value is 0, so there is nothing to factorize; check the columns.")
    rows = rows[np.argsort(keys, kind="stable")]  # an order independent of how the runner merged
    log.info("%s: components fitted on %s of %s rows (%s)", owner, f"{len(rows):,}", f"{n:,}",
             "all of them" if len(rows) == n else "a uniform sample; raise sample_rows= for more")
    return nmf_fit(rows, k, max_iter=max_iter)


class FitNMF(beam.PTransform):
    """The Beam PTransform for ``tft.experimental.ptransform_analyzer``: sample, check, fit ``H``."""

    def __init__(self, k: int, columns: tuple[str, ...], size: int, max_iter: int, owner: str) -> None:
        super().__init__()
        self.k, self.columns, self.size, self.max_iter, self.owner = k, tuple(columns), size, max_iter, owner

    def expand(self, pcoll: Any) -> Any:
        return (pcoll
                | "Sample" >> beam.CombineGlobally(RowSample(self.size, self.owner, self.columns))
                | "Fit" >> beam.Map(_fit_sample, self.k, self.max_iter, self.owner))


def nmf_project(x: Any, f: Any) -> Any:
    """In-graph NMF transform of float64 ``x`` ``[batch, d]`` for spec ``f``: non-negative ``W``."""
    import tensorflow as tf
    import tensorflow_transform as tft

    owner = f"NMF({f.name!r})"
    (h,) = tft.experimental.ptransform_analyzer(
        [x], FitNMF(f.components, tuple(f.columns), f.sample_rows, f.max_iter, owner),
        output_dtypes=[tf.float64], output_shapes=[[f.components, len(f.columns)]], name=f"nmf_{f.name}")
    return nnls_rows(tf.maximum(x, 0.0), h, f.TRANSFORM_STEPS)


def nnls_rows(x: Any, h: Any, steps: int) -> Any:
    """Per row ``argmin_{w >= 0} ||x - w h||`` by ``steps`` coordinate-descent sweeps (in the graph)."""
    import tensorflow as tf

    k = int(h.shape[0])
    hht = tf.matmul(h, h, transpose_b=True)
    xht = tf.matmul(x, h, transpose_b=True)  # [batch, k]
    w0 = tf.maximum(tf.matmul(xht, tf.linalg.pinv(hht)), 0.0)
    diag = tf.maximum(tf.linalg.diag_part(hht), 1e-300)

    def sweep(i: Any, w: Any) -> Any:
        cols = tf.unstack(w, num=k, axis=1)
        for j in range(k):
            grad = xht[:, j] - tf.add_n([cols[m] * hht[m, j] for m in range(k)])
            cols[j] = tf.maximum(cols[j] + grad / diag[j], 0.0)
        return i + 1, tf.stack(cols, axis=1)

    _, w = tf.while_loop(lambda i, _: i < steps, sweep, (tf.constant(0), w0))
    return w
