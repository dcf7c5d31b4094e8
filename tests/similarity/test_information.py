"""Tests of reglab.similarity: NumPy oracles of the lecture's formulas, SimpleITK metrics, properties, gradcheck."""

import itertools

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from reglab import similarity as sim

MEASURES = list(sim.MEASURES)
SHAPES = {2: (7, 9), 3: (5, 6, 7)}


def _pair(device, ndim, batch=2, channels=1, dtype=torch.float64):
    """A smooth random image and a noisy, non-linearly related partner."""
    fixed = torch.rand(batch, channels, *SHAPES[ndim], device=device, dtype=dtype)
    warped = 0.6 * fixed + 0.4 * torch.rand_like(fixed) ** 2
    return fixed, warped


def _phantom(device, ndim, size=32):
    """Four 'tissues' filling the field of view, imaged as T1 and as a synthetic T2 with a non-monotonic mapping."""
    axes = torch.meshgrid(*[torch.linspace(-1, 1, size, device=device, dtype=torch.float64)] * ndim, indexing="ij")
    field = sum(torch.sin((2.5 + i) * a + i) for i, a in enumerate(axes)) + 0.5 * torch.cos(3 * axes[0] * axes[-1])
    labels = torch.bucketize(field, torch.tensor([-0.8, 0.0, 0.8], device=device, dtype=torch.float64))
    t1 = torch.tensor([0.1, 0.4, 0.7, 1.0], device=device, dtype=torch.float64)[labels]
    t2 = torch.tensor([0.9, 0.2, 0.6, 0.05], device=device, dtype=torch.float64)[labels]
    return t1[None, None], t2[None, None]


# ----------------------------------------------------------------------------- shape and reductions


@pytest.mark.parametrize("name", MEASURES)
@pytest.mark.parametrize("ndim", [2, 3])
def test_shape_and_reductions(name, ndim, device):
    fixed, warped = _pair(device, ndim, batch=3, channels=2, dtype=torch.float32)
    measure = sim.MEASURES[name]
    per_sample = measure(fixed, warped, reduction="none")
    assert per_sample.shape == (3,) and per_sample.dtype == torch.float32 and per_sample.device == fixed.device
    torch.testing.assert_close(measure(fixed, warped), per_sample.mean())
    torch.testing.assert_close(measure(fixed, warped, reduction="sum"), per_sample.sum())
    # batched == one sample at a time
    single = torch.stack([measure(fixed[i : i + 1], warped[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(per_sample, single, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- errors


def test_errors(device):
    fixed = torch.rand(1, 1, 6, 6, device=device)
    with pytest.raises(ValueError, match=r"ssd\(\): expected `fixed` and `warped` of the same shape"):
        sim.ssd(fixed, torch.rand(1, 1, 6, 5, device=device))
    with pytest.raises(ValueError, match=r"ncc\(\): expected `fixed` of shape .*Hint: add the batch"):
        sim.ncc(fixed[0, 0], fixed[0, 0])
    with pytest.raises(ValueError, match=r"mse\(\): expected `reduction` to be one of"):
        sim.mse(fixed, fixed, reduction="avg")
    with pytest.raises(ValueError, match=r"mi\(\): expected `mask` of shape"):
        sim.mi(fixed, fixed, mask=torch.ones(6, 6, device=device))
    with pytest.raises(ValueError, match=r"local_ncc\(\): expected `window` to be an odd int"):
        sim.local_ncc(fixed, fixed, window=4)
    with pytest.raises(ValueError, match=r"ngf\(\): expected `eps` > 0"):
        sim.ngf(fixed, fixed, eps=0)
    with pytest.raises(ValueError, match=r"joint_histogram\(\): expected `bins`"):
        sim.mi(fixed, fixed, bins=3)
    with pytest.raises(ValueError, match=r"high > low"):
        sim.nmi(fixed, fixed, fixed_range=(1, 0))
    with pytest.raises(ValueError, match=r"mind\(\): expected `variant`"):
        sim.mind(fixed, variant="ssd")
    with pytest.raises(ValueError, match=r"loss\(\): expected `measure` to be one of"):
        sim.loss("dice", fixed, fixed)
    with pytest.raises(TypeError, match=r"sad\(\): expected a floating-point `warped`"):
        sim.sad(fixed, fixed.long())
    with pytest.raises(ValueError, match=r"`fixed` contains NaN"):
        sim.ncc(fixed * float("nan"), fixed)


# ----------------------------------------------------------------------------- NumPy oracles of the lecture's formulas


def _np_pearson(a, b):
    a, b = a - a.mean(), b - b.mean()
    return (a * b).mean() / np.sqrt((a**2).mean() * (b**2).mean())


@pytest.mark.parametrize("ndim", [2, 3])
def test_intensity_measures_match_numpy(ndim, device):
    fixed, warped = _pair(device, ndim)
    f, m = fixed.cpu().numpy(), warped.cpu().numpy()
    for i in range(2):
        d = f[i, 0] - m[i, 0]
        assert sim.ssd(fixed, warped, reduction="none")[i].item() == pytest.approx((d**2).sum(), rel=1e-12)
        assert sim.mse(fixed, warped, reduction="none")[i].item() == pytest.approx((d**2).mean(), rel=1e-12)
        assert sim.sad(fixed, warped, reduction="none")[i].item() == pytest.approx(np.abs(d).mean(), rel=1e-12)
        assert sim.ncc(fixed, warped, reduction="none")[i].item() == pytest.approx(_np_pearson(f[i, 0], m[i, 0]), rel=1e-10)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("squared", [False, True])
def test_local_ncc_matches_numpy_windows(ndim, squared, device):
    """Mean over voxels of the Pearson correlation of the window cut at the image border."""
    fixed, warped = _pair(device, ndim, batch=1)
    f, m = fixed[0, 0].cpu().numpy(), warped[0, 0].cpu().numpy()
    values = []
    for centre in itertools.product(*[range(n) for n in f.shape]):
        box = tuple(slice(max(c - 1, 0), c + 2) for c in centre)           # window 3, cut at the border
        r = _np_pearson(f[box], m[box])
        values.append(r**2 if squared else r)
    expected = np.mean(values)
    assert sim.local_ncc(fixed, warped, window=3, squared=squared).item() == pytest.approx(expected, rel=1e-10)


def _np_bspline_histogram(f, m, bins):
    """Joint histogram with a cubic B-spline Parzen window, data range mapped onto bins 1 .. bins-2."""
    def kernel(x):
        x = np.abs(x)
        return np.where(x < 1, (4 - 6 * x**2 + 3 * x**3) / 6, np.where(x < 2, (2 - x) ** 3 / 6, 0.0))

    def weights(v):                                                         # (N, bins)
        t = 1 + (v - v.min()) / (v.max() - v.min()) * (bins - 3)
        return kernel(t[:, None] - np.arange(bins)[None, :])

    joint = weights(f.ravel()).T @ weights(m.ravel())
    return joint / joint.sum()


def _np_entropy(p):
    p = p[p > 0]
    return -(p * np.log(p)).sum()


@pytest.mark.parametrize("ndim", [2, 3])
def test_mi_nmi_match_numpy(ndim, device):
    fixed, warped = _pair(device, ndim)
    for i in range(2):
        p = _np_bspline_histogram(fixed[i, 0].cpu().numpy(), warped[i, 0].cpu().numpy(), 12)
        h_f, h_m, h_fm = _np_entropy(p.sum(1)), _np_entropy(p.sum(0)), _np_entropy(p)
        hist = sim.joint_histogram(fixed, warped, bins=12)[i, 0].cpu().numpy()
        np.testing.assert_allclose(hist, p, atol=1e-12)
        assert sim.mi(fixed, warped, bins=12, reduction="none")[i].item() == pytest.approx(h_f + h_m - h_fm, rel=1e-10)
        assert sim.nmi(fixed, warped, bins=12, reduction="none")[i].item() == pytest.approx((h_f + h_m) / h_fm, rel=1e-10)


@pytest.mark.parametrize("ndim", [2, 3])
def test_ngf_matches_numpy(ndim, device):
    fixed, warped = _pair(device, ndim, batch=1)
    eps = 0.05
    gf = np.stack(np.gradient(fixed[0, 0].cpu().numpy()))
    gm = np.stack(np.gradient(warped[0, 0].cpu().numpy()))
    norm = lambda g: np.sqrt((g**2).sum(0) + eps**2)                        # noqa: E731
    expected = (1 - ((gf * gm).sum(0) / (norm(gf) * norm(gm))) ** 2).mean()
    assert sim.ngf(fixed, warped, eps=eps).item() == pytest.approx(expected, rel=1e-10)


def _np_mind(image, pairs, radius, dilation):
    """MIND from the definition: patch SSDs of shifted (edge-replicated) images, minus their minimum, over V."""
    pad = dilation + radius
    padded = np.pad(image, pad, mode="edge")
    shape = image.shape

    def shifted(offset):
        return padded[tuple(slice(pad + dilation * o - radius, pad + dilation * o + n + radius) for o, n in zip(offset, shape))]

    distances = []
    for a, b in pairs:
        squared = (shifted(a) - shifted(b)) ** 2
        # Heinrich's code: squared differences on the image grid, their border replicated for the patch sum
        squared = np.pad(squared[(slice(radius, -radius),) * image.ndim], radius, mode="edge")
        total = np.zeros(shape)
        for p in itertools.product(range(2 * radius + 1), repeat=image.ndim):
            total += squared[tuple(slice(q, q + n) for q, n in zip(p, shape))]
        distances.append(total / (2 * radius + 1) ** image.ndim)
    d = np.stack(distances)
    d = d - d.min(0)
    v = d.mean(0)
    v = np.clip(v, 0.001 * v.mean(), 1000 * v.mean())
    return np.exp(-d / v)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("variant", ["mind", "ssc"])
def test_mind_matches_numpy(ndim, variant, device):
    image = torch.rand(1, 1, *SHAPES[ndim], device=device, dtype=torch.float64)
    units = [tuple(s * (k == axis) for k in range(ndim)) for axis in range(ndim) for s in (-1, 1)]
    if variant == "mind":
        pairs = [((0,) * ndim, r) for r in units]
    else:
        pairs = [(a, b) for a, b in itertools.combinations(units, 2) if np.sum(np.subtract(a, b) ** 2) == 2]
    assert len(pairs) == (2 * ndim if variant == "mind" else {2: 4, 3: 12}[ndim])
    expected = _np_mind(image[0, 0].cpu().numpy(), pairs, radius=1, dilation=2)
    actual = sim.mind(image, radius=1, dilation=2, variant=variant)[0].cpu().numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12)


def test_mind_ssd_is_mean_squared_descriptor_difference(device):
    fixed, warped = _pair(device, 3, batch=1)
    for variant, measure in (("mind", sim.mind_ssd), ("ssc", sim.mind_ssc)):
        d_f, d_m = sim.mind(fixed, variant=variant), sim.mind(warped, variant=variant)
        torch.testing.assert_close(measure(fixed, warped), ((d_f - d_m) ** 2).mean())


# ----------------------------------------------------------------------------- SimpleITK's metrics


def _sitk_metric(fixed, warped, configure):
    """SimpleITK's metric at the identity transform (no interpolation takes place)."""
    method = sitk.ImageRegistrationMethod()
    configure(method)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetInitialTransform(sitk.TranslationTransform(fixed.ndim))
    return method.MetricEvaluate(sitk.GetImageFromArray(fixed), sitk.GetImageFromArray(warped))


@pytest.mark.parametrize("ndim", [2, 3])
def test_simpleitk_mean_squares_and_correlation(ndim, device):
    fixed, warped = _pair(device, ndim, batch=1)
    f, m = fixed[0, 0].cpu().numpy(), warped[0, 0].cpu().numpy()
    assert sim.mse(fixed, warped).item() == pytest.approx(_sitk_metric(f, m, lambda r: r.SetMetricAsMeanSquares()), rel=1e-10)
    # ITK's Correlation metric is -NCC² (sign-blind); reglab's ncc keeps the sign.
    itk = _sitk_metric(f, m, lambda r: r.SetMetricAsCorrelation())
    assert sim.ncc(fixed, warped).item() ** 2 == pytest.approx(-itk, rel=1e-10)


def test_simpleitk_mattes_mi_close(device):
    """ITK's Mattes MI uses a box (zero-order) Parzen window for the fixed image and cubic for the moving one,
    so its values are somewhat higher than reglab's (cubic for both); they agree within ~20% and rank pairs alike."""
    t1, t2 = _phantom(device, 3, size=24)
    generator = torch.Generator(device=device).manual_seed(1)
    ours, itk = [], []
    for noise in (0.05, 0.15, 0.4):
        moving = t2 + noise * torch.randn(t2.shape, generator=generator, device=device, dtype=t2.dtype)
        ours.append(sim.mi(t1, moving, bins=32).item())
        itk.append(-_sitk_metric(t1[0, 0].cpu().numpy(), moving[0, 0].cpu().numpy(),
                                 lambda r: r.SetMetricAsMattesMutualInformation(32)))
    np.testing.assert_allclose(ours, itk, rtol=0.2)
    assert np.argsort(ours).tolist() == np.argsort(itk).tolist() == [2, 1, 0]


# ----------------------------------------------------------------------------- known answers and properties


@pytest.mark.parametrize("ndim", [2, 3])
def test_identical_images(ndim, device):
    fixed, _ = _pair(device, ndim)
    assert sim.ssd(fixed, fixed).item() == 0 and sim.sad(fixed, fixed).item() == 0
    assert sim.ncc(fixed, fixed).item() == pytest.approx(1)
    assert sim.local_ncc(fixed, fixed, window=3).item() == pytest.approx(1)
    assert sim.ngf(fixed, fixed, eps=1e-4).item() == pytest.approx(0, abs=1e-5)
    assert sim.mind_ssd(fixed, fixed).item() == 0 and sim.mind_ssc(fixed, fixed).item() == 0
    others = torch.roll(fixed, 1, dims=2), fixed**2 + torch.rand_like(fixed)
    for measure in (sim.mi, sim.nmi):
        assert all((measure(fixed, fixed, reduction="none") > measure(fixed, o, reduction="none")).all() for o in others)


@pytest.mark.parametrize("ndim", [2, 3])
def test_ncc_invariant_to_affine_intensity_change(ndim, device):
    fixed, warped = _pair(device, ndim)
    for measure in (sim.ncc, lambda f, w: sim.local_ncc(f, w, window=3)):
        base = measure(fixed, warped)
        torch.testing.assert_close(measure(fixed, 3.5 * warped - 2), base)
        torch.testing.assert_close(measure(fixed, -3.5 * warped - 2), -base)
    torch.testing.assert_close(sim.local_ncc(fixed, -warped, window=3, squared=True), sim.local_ncc(fixed, warped, window=3, squared=True))


@pytest.mark.parametrize("ndim", [2, 3])
def test_local_ncc_survives_bias_field_global_does_not(ndim, device):
    textured = torch.rand(1, 1, *(24,) * ndim, device=device, dtype=torch.float64)
    bias = torch.exp(torch.linspace(-1, 1, 24, device=device, dtype=torch.float64))   # smooth gain e^-1 .. e^1
    biased = textured * bias
    assert sim.local_ncc(textured, biased, window=5).item() > 0.95
    assert sim.ncc(textured, biased).item() < 0.7


@pytest.mark.parametrize("ndim", [2, 3])
def test_mi_symmetric(ndim, device):
    fixed, warped = _pair(device, ndim)
    for measure in (sim.mi, sim.nmi):
        torch.testing.assert_close(measure(fixed, warped, fixed_range=(0, 1), warped_range=(0, 1)),
                                   measure(warped, fixed, fixed_range=(0, 1), warped_range=(0, 1)))


@pytest.mark.parametrize("ndim", [2, 3])
def test_multimodal_measures_prefer_alignment(ndim, device):
    """On a T1 vs synthetic-T2 phantom, MI/NMI/NGF/MIND peak at alignment; SSD and NCC do not."""
    t1, t2 = _phantom(device, ndim)
    shifts = range(-4, 5)
    moved = [torch.roll(t2, s, dims=2) for s in shifts]

    def best(measure):
        values = [sim.loss(measure, t1, m).item() for m in moved]
        return list(shifts)[int(np.argmin(values))]

    for name in ("mi", "nmi", "ngf", "mind_ssd", "mind_ssc"):
        assert best(name) == 0, name
    for name in ("ssd", "ncc"):
        assert best(name) != 0, name


def test_mi_maximal_at_alignment(device):
    t1, _ = _phantom(device, 2)
    values = [sim.mi(t1, torch.roll(t1, s, dims=3)).item() for s in range(-3, 4)]
    assert int(np.argmax(values)) == 3


@pytest.mark.parametrize("name", MEASURES)
@pytest.mark.parametrize("ndim", [2, 3])
def test_constant_images_and_empty_masks_are_finite(name, ndim, device):
    measure = sim.MEASURES[name]
    constant = torch.full((1, 1, *SHAPES[ndim]), 0.3, device=device, requires_grad=True)
    other = torch.rand(1, 1, *SHAPES[ndim], device=device)
    for a, b in ((constant, constant), (constant, other), (other, constant)):
        value = measure(a, b)
        value.backward()
        assert torch.isfinite(value) and torch.isfinite(constant.grad).all()
    if name in ("ncc", "local_ncc", "mi"):
        assert measure(constant, other).item() == 0
    empty = torch.zeros(1, 1, *SHAPES[ndim], device=device, dtype=torch.bool)
    assert measure(other, other * 2, mask=empty).item() == (1.0 if name == "nmi" else 0.0)


@pytest.mark.parametrize("ndim", [2, 3])
def test_mask_restricts_the_region(ndim, device):
    fixed, warped = _pair(device, ndim)
    mask = torch.zeros(1, 1, *SHAPES[ndim], device=device, dtype=torch.bool)
    box = (slice(None), slice(None)) + tuple(slice(1, n - 1) for n in SHAPES[ndim])
    mask[box] = True
    for name in ("mse", "sad", "ncc", "mi", "nmi"):
        options = {"fixed_range": (0, 1), "warped_range": (0, 1)} if name in ("mi", "nmi") else {}
        expected = sim.MEASURES[name](fixed[box].contiguous(), warped[box].contiguous(), **options)
        torch.testing.assert_close(sim.MEASURES[name](fixed, warped, mask=mask, **options), expected)
    # windowed measures: the mask selects centres, the windows still see the neighbours
    r = sim.local_ncc(fixed, warped, window=3, reduction="none")
    masked = sim.local_ncc(fixed, warped, window=3, mask=mask)
    assert masked.shape == () and torch.isfinite(masked) and not torch.allclose(masked, r.mean())


def test_low_contrast_windows_are_not_biased(device):
    """A window with tiny (but real) variance keeps its exact correlation: eps is relative, not additive."""
    fixed = torch.rand(1, 1, 12, 12, device=device, dtype=torch.float64)
    faint = 1e-3 * fixed + 0.5
    assert sim.local_ncc(fixed, faint, window=3).item() == pytest.approx(1, abs=1e-9)
    assert sim.ncc(fixed, faint).item() == pytest.approx(1, abs=1e-12)


# ----------------------------------------------------------------------------- gradients, loss form, module


@pytest.mark.parametrize("name", MEASURES)
@pytest.mark.parametrize("ndim", [2, 3])
def test_gradcheck(name, ndim, device):
    size = (6, 7) if ndim == 2 else (4, 5, 5)
    fixed = torch.rand(1, 1, *size, device=device, dtype=torch.float64)
    warped = (0.5 * fixed + 0.5 * torch.rand_like(fixed)).requires_grad_(True)
    options = {"local_ncc": {"window": 3}, "mi": {"bins": 8}, "nmi": {"bins": 8}, "ngf": {"eps": 0.1}}.get(name, {})
    measure = sim.MEASURES[name]
    assert torch.autograd.gradcheck(lambda w: measure(fixed, w, **options), (warped,), eps=1e-6, atol=1e-5)


def test_loss_sign_and_module(device):
    fixed, warped = _pair(device, 2, dtype=torch.float32)
    for name in MEASURES:
        value = sim.MEASURES[name](fixed, warped)
        expected = -value if sim.HIGHER_IS_BETTER[name] else value
        torch.testing.assert_close(sim.loss(name, fixed, warped), expected)
        torch.testing.assert_close(sim.SimilarityLoss(name)(fixed, warped), expected)
    torch.testing.assert_close(sim.SimilarityLoss(sim.local_ncc, window=3)(fixed, warped),
                               -sim.local_ncc(fixed, warped, window=3))
    assert "window=3" in repr(sim.SimilarityLoss("local_ncc", window=3))


def test_inputs_not_modified(device):
    fixed, warped = _pair(device, 3)
    copies = fixed.clone(), warped.clone()
    for name in MEASURES:
        sim.MEASURES[name](fixed, warped)
    assert torch.equal(fixed, copies[0]) and torch.equal(warped, copies[1])
