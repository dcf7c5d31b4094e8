"""The penalties by name (:data:`REGULARIZERS`) and :class:`Regularizer`, one of them as a module.

``register(..., regularization="bending_energy")``, the training losses and the
command line pick a penalty by its name here.

Lab 04 ("Regularization"); Lab 05 and 06 choose penalties by name.
"""

import torch

from reglab.regularization.first_order import diffusion, elastic
from reglab.regularization.folding import folding_penalty
from reglab.regularization.second_order import bending_energy, curvature
from reglab.validation import check_choice

REGULARIZERS = {
    "diffusion": diffusion, "elastic": elastic, "bending_energy": bending_energy,
    "curvature": curvature, "folding_penalty": folding_penalty,
}
"""The penalties by name (all: lower is smoother)."""


class Regularizer(torch.nn.Module):
    """A penalty of :data:`REGULARIZERS` as a module that carries its options.

    Example:
        >>> regularizer = Regularizer("elastic", alpha=0.5, beta=1.0)
        >>> regularizer(torch.zeros(1, 2, 4, 4))
        tensor(0.)
    """

    def __init__(self, name, **options):
        super().__init__()
        check_choice("Regularizer", "name", name, tuple(REGULARIZERS))
        self.name, self.options = name, options

    def forward(self, displacement):
        return REGULARIZERS[self.name](displacement, **self.options)

    def extra_repr(self):
        return ", ".join([repr(self.name)] + [f"{k}={v!r}" for k, v in self.options.items()])
