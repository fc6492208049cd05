"""Moved to :mod:`mlprod.io` (files, frames, sources); this name keeps working for one release."""
from mlprod.io.files import *  # noqa: F403
from mlprod.io.files import _list_remote  # noqa: F401
from mlprod.io.frames import *  # noqa: F403
from mlprod.io.frames import SAMPLE_BYTES  # noqa: F401
from mlprod.io.sources import *  # noqa: F403
