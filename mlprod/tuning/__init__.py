"""Neural architecture search with Keras Tuner: declarative spaces, six strategies (random, grid,
Bayesian, Hyperband, ASHA, regularized evolution), budgets, size-constrained selection, and the
ways to spend less compute per trial: early termination of hopeless trials from their learning
curves (:mod:`mlprod.tuning.estimation`), multi-fidelity over epochs or data subsets
(:mod:`mlprod.tuning.fidelity`) and weight inheritance for evolution (:mod:`mlprod.tuning.inheritance`).

Example:
    >>> import mlprod
    >>> from mlprod.tuning import DenseSpace
    >>> x, y = df[features].to_numpy("float32"), df["species"].to_numpy()
    >>> r = mlprod.search(DenseSpace((4,), 3), (x, y), strategy="evolution", max_trials=3, epochs=2, progress=False)
    >>> len(r.table)
    3
"""
from mlprod.tuning.estimation import extrapolate, hopeless
from mlprod.tuning.evolution import RegularizedEvolutionOracle
from mlprod.tuning.fidelity import ASHAOracle
from mlprod.tuning.inheritance import inherit_weights
from mlprod.tuning.search import STRATEGIES, SearchResult, search
from mlprod.tuning.spaces import ConvSpace, DenseSpace
from mlprod.tuning.strategies import Strategy, check_strategy, make_oracle, register
from mlprod.tuning.tuner import BudgetTuner

__all__ = ["STRATEGIES", "ASHAOracle", "BudgetTuner", "ConvSpace", "DenseSpace", "RegularizedEvolutionOracle",
           "SearchResult", "Strategy", "check_strategy", "extrapolate", "hopeless", "inherit_weights", "make_oracle", "register", "search"]
