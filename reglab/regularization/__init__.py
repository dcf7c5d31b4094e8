"""Regularization (being split into one file per concept; see the next commit)."""

from reglab.regularization.first_order import *  # noqa: F401,F403
from reglab.regularization.first_order import REDUCTIONS, _mean_square, _second_difference  # noqa: F401
