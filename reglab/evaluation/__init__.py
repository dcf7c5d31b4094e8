"""Evaluation of a registration (issue 13: the module moved here whole; the next commit splits it by concept)."""

from reglab.evaluation.surface_distance import *  # noqa: F401,F403
from reglab.evaluation.surface_distance import _derivatives, _determinant, _nearest_distances, _percentile  # noqa: F401
