"""Visual assessment of a registration (issue 13: the module moved here whole; the next commit splits it by concept)."""

from reglab.visualization.figures import *  # noqa: F401,F403
