"""Synthetic contrasts: a second modality from tissue maps, and SynthMorph-style random images.

* :func:`tissue_contrast` - a second modality from tissue probability maps
  (T1-, T2- and PD-like orderings of CSF, gray and white matter, bias field, Rician
  noise, blur).
* :func:`random_contrast`, :func:`random_label_map` - SynthMorph-style images with a
  random intensity per label, and random label maps made of smooth blobs.

Every generator is seeded: ``seed`` is an int (or a ``torch.Generator``, or None
for PyTorch's global generator). The random numbers are drawn on the CPU and then
moved to ``device``, so a seed gives the same result on every device. Functions
that take tensors work on the tensors' device and dtype.

Lab 00 shows these; Lab 03 makes its second modality with :func:`tissue_contrast`.

References:
    Hoffmann et al., "SynthMorph: learning contrast-invariant registration
    without acquired images", IEEE TMI 2022 (random contrasts and label maps).
"""

import math

import torch

from reglab.data.noise import _blur, _check_nonnegative, _check_size, _generator, _smooth_noise
from reglab.validation import check_choice, check_image

CONTRASTS = {
    "t1": (0.0, 0.38, 0.65, 0.84),
    "t2": (0.0, 1.0, 0.6, 0.4),
    "pd": (0.0, 0.9, 0.78, 0.62),
}
"""Mean intensity of (background, CSF, gray matter, white matter) per contrast.

T1-like: WM > GM > CSF (the values measured on the embedded MNI T1); T2-like:
CSF > GM > WM; PD-like: CSF ≳ GM > WM, with less contrast. So T2 and T1 order
the tissues the opposite way: the relation between their intensities is a
function, but not an increasing one (hence mutual information, Lab 04).
"""


# ---------------------------------------------------------------- contrasts


def _check_tissues(fn, tissues):
    check_image(fn, "tissues", tissues)
    if tissues.shape[1] != 3:
        raise ValueError(
            f"{fn}(): expected `tissues` of shape (B, 3, *spatial) holding CSF, gray and white matter "
            f"probabilities, got {tuple(tissues.shape)}. Hint: use load_brain().tissues."
        )


def _bias_field(like, strength, generator):
    """A smooth multiplicative field ``exp(strength · n(x))`` with ``max |n| = 1``, ``(B, 1, *spatial)``."""
    size = like.shape[2:]
    noise = _smooth_noise(like.shape[0], 1, size, max(size) / 4, generator, device=like.device, dtype=like.dtype)
    noise = noise / noise.abs().flatten(1).amax(dim=1).clamp_min(1e-12).reshape(-1, *[1] * (len(size) + 1))
    return torch.exp(strength * noise)


def _rician(image, sigma, generator):
    """Magnitude of a complex signal with Gaussian noise in both channels: ``|image + n1 + i n2|``."""
    if sigma <= 0:
        return image
    n1 = torch.randn(image.shape, generator=generator, dtype=torch.float64).to(image)
    n2 = torch.randn(image.shape, generator=generator, dtype=torch.float64).to(image)
    return torch.sqrt((image + sigma * n1) ** 2 + (sigma * n2) ** 2)


def tissue_contrast(tissues, *, contrast="t2", bias=0.2, noise=0.02, blur=0.0, seed=None):
    """A synthetic MR image from tissue probability maps: ``I = Σ_k μ_k p_k``, then blur, bias and noise.

    The intensities ``μ_k`` of background, CSF, gray and white matter come from
    ``CONTRASTS[contrast]``; partial-volume voxels mix them. The image is then
    blurred (Gaussian, ``blur`` voxels), multiplied by a smooth bias field
    ``exp(bias · n(x))`` with ``|n| ≤ 1``, and given Rician noise of standard
    deviation ``noise`` (the magnitude of a complex Gaussian signal, as MR is).

    Args:
        tissues: ``(B, 3, *spatial)`` probabilities of CSF, gray matter, white matter.
        contrast: ``"t1"``, ``"t2"`` or ``"pd"``.
        bias: strength of the bias field (0 = none; 0.2 ≈ ±20 %).
        noise: Rician noise level, in units of the intensity range (~[0, 1]).
        blur: Gaussian blur, in voxels (0 = none).
        seed: int, ``torch.Generator`` or None.

    Returns:
        Tensor ``(B, 1, *spatial)``, same device and dtype as ``tissues``.

    Raises:
        ValueError: tissues not ``(B, 3, *spatial)``, an unknown contrast, or negative levels.

    Example:
        >>> from reglab.data import load_brain_slice
        >>> brain = load_brain_slice("axial")
        >>> t2 = tissue_contrast(brain.tissues, contrast="t2", bias=0, noise=0)
        >>> [round(t2[brain.labels == k].mean().item(), 2) for k in (1, 2, 3)]   # CSF > GM > WM
        [0.9, 0.61, 0.43]
    """
    _check_tissues("tissue_contrast", tissues)
    check_choice("tissue_contrast", "contrast", contrast, tuple(CONTRASTS))
    _check_nonnegative("tissue_contrast", bias=bias, noise=noise, blur=blur)
    generator = _generator(seed)
    means = torch.tensor(CONTRASTS[contrast], dtype=tissues.dtype, device=tissues.device)
    background = (1 - tissues.sum(dim=1, keepdim=True)).clamp(0, 1)
    probabilities = torch.cat([background, tissues], dim=1)                                # (B, 4, *spatial)
    image = (probabilities * means.reshape(1, 4, *[1] * (tissues.dim() - 2))).sum(dim=1, keepdim=True)
    image = _blur(image, blur)
    if bias > 0:
        image = image * _bias_field(image, bias, generator)
    return _rician(image, noise, generator)


def _check_labels(fn, labels):
    check_image(fn, "labels", labels, allow_integer=True)
    if labels.is_floating_point() or labels.shape[1] != 1 or labels.min() < 0:
        raise ValueError(
            f"{fn}(): expected an integer label map of shape (B, 1, *spatial) with labels >= 0, "
            f"got dtype {labels.dtype} and shape {tuple(labels.shape)}. Hint: labels.long()."
        )


def random_contrast(labels, *, blur=1.0, bias=0.3, noise=0.05, gamma=0.3, seed=None):
    """A SynthMorph-style image: a random intensity for every label, then blur, bias, noise and gamma.

    Each label ``k`` gets a mean ``μ_k ~ U(0, 1)`` and a texture level
    ``σ_k ~ U(0, noise)``; the image ``μ_k + σ_k ε(x)`` is blurred with a random
    ``U(0, blur)`` voxels, multiplied by a bias field of random strength up to
    ``bias``, rescaled to [0, 1], and raised to the power ``exp(U(±gamma))``.
    A network trained on such images never sees the same contrast twice, so it
    must learn to align *shapes*, not intensities.

    Args:
        labels: ``(B, 1, *spatial)`` integer label map (labels >= 0).
        blur, bias, noise, gamma: the largest values of the random parameters.
        seed: int, ``torch.Generator`` or None.

    Returns:
        Tensor ``(B, 1, *spatial)`` float32 in [0, 1] on the labels' device.

    Example:
        >>> labels = torch.zeros(1, 1, 8, 8, dtype=torch.long); labels[..., 2:6, 2:6] = 1
        >>> image = random_contrast(labels, blur=0, bias=0, noise=0, gamma=0, seed=0)
        >>> image[0, 0, 0, 0].item(), image[0, 0, 4, 4].item()   # two labels, two flat intensities
        (1.0, 0.0)
    """
    _check_labels("random_contrast", labels)
    _check_nonnegative("random_contrast", blur=blur, bias=bias, noise=noise, gamma=gamma)
    generator = _generator(seed)
    batch, count = labels.shape[0], int(labels.max()) + 1
    images = []
    for b in range(batch):
        means = torch.rand(count, generator=generator, dtype=torch.float64).to(labels.device, torch.float32)
        levels = (noise * torch.rand(count, generator=generator, dtype=torch.float64)).to(labels.device, torch.float32)
        texture = torch.randn(labels[b:b + 1].shape, generator=generator, dtype=torch.float64).to(labels.device, torch.float32)
        image = means[labels[b:b + 1]] + levels[labels[b:b + 1]] * texture
        image = _blur(image, blur * torch.rand(1, generator=generator, dtype=torch.float64).item())
        if bias > 0:
            image = image * _bias_field(image, bias * torch.rand(1, generator=generator, dtype=torch.float64).item(), generator)
        low, high = image.min(), image.max()
        image = (image - low) / (high - low).clamp_min(1e-12)
        exponent = math.exp(gamma * (2 * torch.rand(1, generator=generator, dtype=torch.float64).item() - 1))
        images.append(image.clamp(0, 1) ** exponent)
    return torch.cat(images)


def random_label_map(size, *, batch=1, num_labels=8, smoothness=8.0, seed=None, device=None):
    """Random shapes: every voxel takes the label of the largest of ``num_labels`` smooth noise fields.

    SynthMorph trains on such maps (deformed, then given a random contrast with
    :func:`random_contrast`) instead of real anatomy.

    Args:
        size: spatial shape.
        batch: how many maps.
        num_labels: how many labels (>= 2); labels are ``0 … num_labels − 1``.
        smoothness: blob size (Gaussian smoothing of the noise), in voxels.
        seed, device: as in :func:`random_affine`.

    Returns:
        Tensor ``(B, 1, *size)`` int64.

    Example:
        >>> labels = random_label_map((32, 32), num_labels=4, seed=0)
        >>> labels.shape, labels.dtype, labels.unique().tolist()
        (torch.Size([1, 1, 32, 32]), torch.int64, [0, 1, 2, 3])
    """
    size = _check_size("random_label_map", size)
    if not isinstance(num_labels, int) or num_labels < 2:
        raise ValueError(f"random_label_map(): expected `num_labels` to be an int >= 2, got {num_labels!r}.")
    _check_nonnegative("random_label_map", smoothness=smoothness)
    generator = _generator(seed)
    noise = _smooth_noise(batch, num_labels, size, max(smoothness, 1e-3), generator, device=device, dtype=torch.float32)
    return noise.argmax(dim=1, keepdim=True)
