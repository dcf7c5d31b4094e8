"""Classical registration (being split into one file per concept; see the next commit)."""

from reglab.registration.engine import *  # noqa: F401,F403
