"""(Dis)similarity measures (issue 13: the module moved here whole; the next commit splits it by concept)."""

from reglab.similarity.information import *  # noqa: F401,F403
