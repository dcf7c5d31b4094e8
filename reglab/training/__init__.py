"""Training registration networks: the losses of the three regimes, one loop, validation, checkpoints.

* :mod:`reglab.training.losses` - ``supervised_loss``, ``unsupervised_loss``, ``soft_dice_loss``,
  ``discriminator_loss``, ``generator_loss`` (pure functions);
* :mod:`reglab.training.regimes` - :class:`Supervised`, :class:`Unsupervised`, :class:`Adversarial`;
* :mod:`reglab.training.loop` - :func:`fit` (progress bar, validation, checkpoints, resume, seed,
  data-parallel under ``torchrun``), :func:`evaluate`, :func:`save_checkpoint`, :func:`load_checkpoint`;
* :mod:`reglab.training.data_parallel` - the pieces of data-parallel training (``torch.distributed``);
* :mod:`reglab.training.data` - :func:`make_pairs`: small in-memory synthetic pairs;
* :mod:`reglab.training.instance` - :func:`instance_optimization`: fine-tune a predicted field for one pair.

Labs 06 and 07 use this package.
"""

from reglab.training.data import TensorPairs, make_pairs
from reglab.training.instance import instance_optimization
from reglab.training.losses import (discriminator_loss, generator_loss, one_hot, soft_dice_loss, supervised_loss,
                                    unsupervised_loss)
from reglab.training.loop import batch_indices, evaluate, fit, load_checkpoint, predict, save_checkpoint
from reglab.training.regimes import Adversarial, Supervised, Unsupervised

__all__ = ["Adversarial", "Supervised", "TensorPairs", "Unsupervised", "batch_indices", "discriminator_loss", "evaluate",
           "fit", "generator_loss", "instance_optimization", "load_checkpoint", "make_pairs", "one_hot", "predict",
           "save_checkpoint", "soft_dice_loss", "supervised_loss", "unsupervised_loss"]
