"""Neural architecture search with Keras Tuner: declarative spaces, five strategies (random, grid,
Bayesian, Hyperband, regularized evolution), budgets, size-constrained selection and early
termination of hopeless trials from their learning curves (:mod:`mlprod.tuning.estimation`).

Example:
    >>> import mlprod
    >>> from mlprod.tuning import DenseSpace
    >>> x, y = df[features].to_numpy("float32"), df["species"].to_numpy()
    >>> r = mlprod.search(DenseSpace((4,), 3), (x, y), strategy="evolution", max_trials=3, epochs=2, verbose=False)
    >>> len(r.trials)
    3
"""
from mlprod.tuning.estimation import extrapolate, hopeless
from mlprod.tuning.evolution import RegularizedEvolutionOracle
from mlprod.tuning.search import STRATEGIES, SearchResult, make_oracle, search
from mlprod.tuning.spaces import ConvSpace, DenseSpace

__all__ = ["STRATEGIES", "ConvSpace", "DenseSpace", "RegularizedEvolutionOracle", "SearchResult", "extrapolate",
           "hopeless", "make_oracle", "search"]
