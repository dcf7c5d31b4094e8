"""One way to minimise: every measure by name, its direction, and its loss form.

The measures keep their natural sign; :func:`loss` (and the module
:class:`SimilarityLoss`) turns any of them into a quantity to *minimise*: the
measure itself when lower is better, its negative when higher is better
(``loss("ncc", f, w) == -ncc(f, w)``). ``HIGHER_IS_BETTER`` lists the direction
of each measure. Lab 03 introduces it; :func:`reglab.register` minimises it in Lab 05.
"""

import torch

from reglab.similarity.information import mi, nmi
from reglab.similarity.intensity import mse, ncc, sad, ssd
from reglab.similarity.local_ncc import local_ncc
from reglab.similarity.mind import mind_ssc, mind_ssd
from reglab.similarity.ngf import ngf
from reglab.validation import check_choice

MEASURES = {
    "ssd": ssd, "mse": mse, "sad": sad, "ncc": ncc, "local_ncc": local_ncc,
    "mi": mi, "nmi": nmi, "ngf": ngf, "mind_ssd": mind_ssd, "mind_ssc": mind_ssc,
}
"""The measures by name."""

HIGHER_IS_BETTER = {
    "ssd": False, "mse": False, "sad": False, "ncc": True, "local_ncc": True,
    "mi": True, "nmi": True, "ngf": False, "mind_ssd": False, "mind_ssc": False,
}
"""Whether a larger value of each measure means a better match."""


def _resolve(fn, measure):
    if callable(measure):
        name = getattr(measure, "__name__", "")
        if MEASURES.get(name) is not measure:
            raise ValueError(f"{fn}(): expected one of reglab.similarity's measures, got {measure!r}.")
        return name, measure
    check_choice(fn, "measure", measure, tuple(MEASURES))
    return measure, MEASURES[measure]


def loss(measure, fixed, warped, **options):
    """A measure as a quantity to minimise: the measure when lower is better, its negative when higher is better.

    Args:
        measure: a name from ``MEASURES`` (``"ncc"``, ``"mi"``, …) or the function itself.
        fixed, warped: as the measure.
        **options: keyword options of the measure (``mask``, ``reduction``, ``window``, ``bins``, …).

    Returns:
        ``-measure(fixed, warped, **options)`` if ``HIGHER_IS_BETTER[measure]``, else the measure.

    Example:
        >>> f = torch.arange(4.0).reshape(1, 1, 2, 2)
        >>> loss("ncc", f, 2 * f), loss(mse, f, f + 1)
        (tensor(-1.), tensor(1.))
    """
    name, function = _resolve("loss", measure)
    value = function(fixed, warped, **options)
    return -value if HIGHER_IS_BETTER[name] else value


class SimilarityLoss(torch.nn.Module):
    """:func:`loss` as a module that carries the measure and its options.

    Example:
        >>> criterion = SimilarityLoss("local_ncc", window=5)
        >>> f = torch.rand(2, 1, 8, 8)
        >>> criterion(f, f).item()
        -1.0
    """

    def __init__(self, measure, **options):
        super().__init__()
        self.name, self.function = _resolve("SimilarityLoss", measure)
        self.options = options

    def forward(self, fixed, warped):
        return loss(self.function, fixed, warped, **self.options)

    def extra_repr(self):
        return ", ".join([repr(self.name)] + [f"{k}={v!r}" for k, v in self.options.items()])
