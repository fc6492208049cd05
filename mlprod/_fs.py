"""Moved to :mod:`mlprod.io.files`; this name keeps working for one release."""
from mlprod.io.files import *  # noqa: F403
from mlprod.io.files import MANIFEST  # noqa: F401
