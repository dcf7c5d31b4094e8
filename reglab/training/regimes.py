"""The three training regimes as small objects the training loop calls once per batch.

A regime turns ``(model, batch)`` into ``(loss, logs)``; :func:`reglab.training.fit`
does the rest (optimiser step, progress bar, validation, checkpoints). A batch
is a dict of tensors with a batch axis: ``fixed``, ``moving`` ``(B, 1, *spatial)``
and, when the regime needs them, ``displacement`` (the true field),
``fixed_labels``, ``moving_labels``.

* :class:`Supervised` - regress the true field (needs it: synthetic data).
* :class:`Unsupervised` - similarity + λ · regularization (+ a Dice term on
  warped labels for weak supervision); for :class:`~reglab.networks.HyperMorph`
  λ is drawn from U(0, 1) for every batch and the loss is ``(1 − λ) L_sim + λ L_reg``.
* :class:`Adversarial` - updates the discriminator inside the step, then
  returns the generator's loss.

Lab 06 compares them.
"""

import torch
from torch import nn

from reglab.networks.hypermorph import HyperMorph
from reglab.training.data_parallel import unwrap
from reglab.training.losses import (REGULARIZERS, SIMILARITIES, discriminator_loss, generator_loss, one_hot,
                                    soft_dice_loss, supervised_loss, unsupervised_loss)
from reglab.warping import warp


class Regime:
    """Base: which parameters the main optimiser trains, what a data-parallel step calls, and a state to
    checkpoint (none by default)."""

    def parameters(self, model):
        return model.parameters()

    def distribute(self, model, wrap):
        """What the step calls in data-parallel training: ``wrap(model)``, a ``DistributedDataParallel``."""
        return wrap(model)

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        """Nothing to restore for a stateless regime."""


class Supervised(Regime):
    """``loss = mean ‖u − u*‖²``: needs ``batch["displacement"]``.

    Example:
        >>> from reglab.networks import UNet
        >>> batch = {"fixed": torch.rand(2, 1, 16, 16), "moving": torch.rand(2, 1, 16, 16),
        ...          "displacement": torch.zeros(2, 2, 16, 16)}
        >>> loss, logs = Supervised()(UNet(2), batch)
        >>> loss.item() < 1e-6, sorted(logs)
        (True, ['epe'])
    """

    def __call__(self, model, batch):
        displacement = model(batch["fixed"], batch["moving"])
        loss = supervised_loss(displacement, batch["displacement"])
        endpoint = (displacement - batch["displacement"]).norm(dim=1).mean()
        return loss, {"epe": endpoint.item()}


class Unsupervised(Regime):
    """``loss = −S(F, M ∘ u) + λ R(u) [+ μ (1 − Dice(labels_F, labels_M ∘ u))]``.

    Args:
        similarity: ``"local_ncc"``, ``"ncc"`` or ``"mse"``.
        weight: λ (ignored by HyperMorph, which samples it).
        regularizer: ``"diffusion"``, ``"bending_energy"`` or ``"elastic"``.
        dice_weight: μ, weight of the soft Dice on warped one-hot labels (0: fully unsupervised).
        classes: number of labels for the Dice term.
        window: the local NCC window.

    Example:
        >>> from reglab.networks import VoxelMorph
        >>> f = torch.rand(1, 1, 32, 32)
        >>> loss, logs = Unsupervised(similarity="mse")(VoxelMorph(2), {"fixed": f, "moving": f})
        >>> round(loss.item(), 4)
        0.0
    """

    def __init__(self, *, similarity="local_ncc", weight=1.0, regularizer="diffusion", dice_weight=0.0, classes=4,
                 window=9):
        if similarity not in SIMILARITIES or regularizer not in REGULARIZERS:
            raise ValueError(f"Unsupervised(): expected `similarity` in {tuple(SIMILARITIES)} and `regularizer` in "
                             f"{tuple(REGULARIZERS)}, got {similarity!r} and {regularizer!r}.")
        self.similarity, self.weight, self.regularizer = similarity, weight, regularizer
        self.dice_weight, self.classes, self.window = dice_weight, classes, window

    def __call__(self, model, batch):
        fixed, moving = batch["fixed"], batch["moving"]
        options = dict(similarity=self.similarity, regularizer=self.regularizer, window=self.window)
        if isinstance(unwrap(model), HyperMorph):
            lam = torch.rand(()).item()                                  # one λ per batch, from the seeded RNG
            displacement = model(fixed, moving, lam=lam)
            warped = warp(moving, displacement)
            dissimilarity = unsupervised_loss(fixed, warped, displacement, weight=0.0, **options)
            penalty = REGULARIZERS[self.regularizer](displacement)
            loss = (1.0 - lam) * dissimilarity + lam * penalty
            logs = {"similarity": dissimilarity.item(), "regularization": penalty.item()}
        else:
            displacement = model(fixed, moving)
            warped = warp(moving, displacement)
            loss = unsupervised_loss(fixed, warped, displacement, weight=self.weight, **options)
            logs = {}
        if self.dice_weight:
            moving_onehot = one_hot(batch["moving_labels"], self.classes)
            dice = soft_dice_loss(one_hot(batch["fixed_labels"], self.classes), warp(moving_onehot, displacement))
            loss = loss + self.dice_weight * dice
            logs["dice_loss"] = dice.item()
        return loss, logs


class Adversarial(Regime):
    """GAN training of a :class:`~reglab.networks.GANRegistration`: ``D`` step, then ``G``'s loss.

    Reference pairs are ``(F, M ∘ u*)``, the moving image warped by the true field
    (so, like supervised training, this regime needs the ground truth; Fan et al. 2019).
    Stabilisers: spectral normalisation in ``D`` (in the network), one-sided label
    smoothing, instance noise on ``D``'s inputs, and a small similarity + regularization
    term in ``G``'s loss.

    Args:
        lr: the discriminator's learning rate (Adam, betas (0.5, 0.999)).
        adversarial_weight: weight of the generator's adversarial term.
        similarity, weight: the auxiliary unsupervised term (``similarity=None`` to drop it).
        noise: standard deviation of the instance noise.
        smoothing: one-sided label smoothing of the reference label.
    """

    def __init__(self, *, lr=1e-3, adversarial_weight=0.1, similarity="mse", weight=0.1, noise=0.05, smoothing=0.1):
        self.lr, self.adversarial_weight, self.noise, self.smoothing = lr, adversarial_weight, noise, smoothing
        self.similarity, self.weight = similarity, weight
        self.optimizer = None
        self._pending_state = None

    def parameters(self, model):
        return model.generator.parameters()

    def distribute(self, model, wrap):
        """Wrap generator and discriminator apart: the discriminator takes its own step inside the generator's.

        One wrapper around both would see the discriminator's own backward pass between the
        generator's forward and backward passes, which ``DistributedDataParallel`` does not allow.
        """
        return _WrappedGAN(wrap(model.generator), wrap(model.discriminator))

    def _optimizer(self, model):
        if self.optimizer is None:
            self.optimizer = torch.optim.Adam(model.discriminator.parameters(), lr=self.lr, betas=(0.5, 0.999))
            if self._pending_state is not None:
                self.optimizer.load_state_dict(self._pending_state)
        return self.optimizer

    def _noisy(self, image):
        return image + self.noise * torch.randn_like(image) if self.noise else image

    def __call__(self, model, batch):
        fixed, moving = batch["fixed"], batch["moving"]
        displacement = model(fixed, moving)
        warped = warp(moving, displacement)
        reference = warp(moving, batch["displacement"])
        if model.training:                                               # 1. the discriminator's step
            optimizer = self._optimizer(model)
            optimizer.zero_grad()
            d_loss = discriminator_loss(model.discriminator(fixed, self._noisy(reference)),
                                        model.discriminator(fixed, self._noisy(warped.detach())),
                                        smoothing=self.smoothing)
            d_loss.backward()
            optimizer.step()
        else:
            d_loss = torch.zeros(())
        fooling = generator_loss(model.discriminator(fixed, self._noisy(warped)))   # 2. the generator's loss
        loss = self.adversarial_weight * fooling
        if self.similarity is not None:
            loss = loss + unsupervised_loss(fixed, warped, displacement, similarity=self.similarity, weight=self.weight)
        return loss, {"d_loss": d_loss.item(), "g_adv": fooling.item()}

    def state_dict(self):
        return {} if self.optimizer is None else {"discriminator_optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state):
        if "discriminator_optimizer" in state:
            self._pending_state = state["discriminator_optimizer"]
            self.optimizer = None


class _WrappedGAN(nn.Module):
    """A GAN whose generator and discriminator are each wrapped for data parallelism (same interface)."""

    def __init__(self, generator, discriminator):
        super().__init__()
        self.generator, self.discriminator = generator, discriminator

    def forward(self, fixed, moving):
        return self.generator(fixed, moving)
