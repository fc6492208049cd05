"""Moved to :mod:`mlprod.io.examples`; this name keeps working for one release."""
from mlprod.io.examples import *  # noqa: F403
