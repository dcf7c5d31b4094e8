"""Real inter-subject anatomy: the defaults on embedded hippocampus subjects, and the implausibility warnings.

Ground truth is the subjects' manual labels (Dice per label before and after, by reglab.evaluation.dice, whose
own tests compare with NumPy); the warnings are checked on constructed bad cases with known answers (a forced
scale of 0.4, a folding field, a similarity made worse on purpose).
"""

import pytest
import torch
import torch.nn.functional as F

from reglab.data import load_hippocampus
from reglab.evaluation import dice
from reglab.registration import (DEFAULT_STAGES, RegistrationWarning, register, register_stages, rescale_intensities,
                                 scanned_region)
from reglab.registration.plausibility import affine_scales
from reglab.transforms import Affine, Dense
from tests.registration._cases import brain

FAST = [dict(stage, iterations=(20, 10, 0)) for stage in DEFAULT_STAGES]     # the defaults, fewer iterations


@pytest.fixture(scope="module")
def hippocampus_pair():
    data = load_hippocampus()
    fixed, moving = data.subjects.index("033"), data.subjects.index("034")    # a test-split pair
    return data, fixed, moving


def test_defaults_raise_dice_of_both_labels_without_collapse(hippocampus_pair):
    data, f, m = hippocampus_pair
    fixed, moving = data.image[f:f + 1] * 1000 + 50, data.image[m:m + 1] * 1000 + 50   # raw-scan-like range
    result = register_stages(fixed, moving, FAST, progress=False)
    before = dice(data.labels[f:f + 1], data.labels[m:m + 1], labels=[1, 2])[0]
    after = dice(data.labels[f:f + 1], result.apply(data.labels[m:m + 1], mode="nearest"), labels=[1, 2])[0]
    assert (after > before + 0.03).all(), (before, after)
    scales = affine_scales(result.transform, data.spacing)
    assert scales.min() > 0.85 and scales.max() < 1.2                       # no collapse of the affine stage
    assert result.warnings == ()


def test_scanned_region_finds_the_learn2reg_padding(hippocampus_pair):
    data, _, _ = hippocampus_pair
    assert torch.equal(scanned_region(data.image), data.region)


def test_scanned_region_keeps_uniform_borders():
    image = F.pad(torch.rand(1, 1, 6, 7), (3, 3, 2, 2))                      # an empty (zero) border: real content
    assert scanned_region(image).all()


def test_rescale_intensities_is_invariant_to_type_and_range():
    image = brain(2, "cpu")
    torch.testing.assert_close(rescale_intensities(image * 3000 - 200), rescale_intensities(image))
    assert rescale_intensities(image).min() == 0 and rescale_intensities(image).max() == 1


def test_normalize_makes_the_result_independent_of_the_range():
    fixed = brain(2, "cpu")
    moving = torch.roll(fixed, 2, dims=3)
    options = dict(transform="rigid", similarity="ssd", levels=2, iterations=30, progress=False, normalize=True)
    small, large = register(fixed, moving, **options), register(fixed * 4000, moving * 4000, **options)
    torch.testing.assert_close(small.displacement, large.displacement, atol=1e-3, rtol=0)
    torch.testing.assert_close(large.warped / 4000, small.warped, atol=1e-2, rtol=0)   # warped keeps the values


def test_warns_on_a_forced_bad_scale():
    fixed = brain(2, "cpu")
    shrink = Affine((64, 64), linear=0.4 * torch.eye(2)[None])
    with pytest.warns(RegistrationWarning, match="scales by 0.40 to 0.40") as record:
        result = register(fixed, fixed, transform=shrink, iterations=0, levels=1, progress=False)
    assert any("got worse" in str(w.message) for w in record)                 # identical images, made worse
    assert len(result.warnings) == 2


def test_warns_on_folding():
    fixed = brain(2, "cpu")
    field = torch.zeros(1, 2, 64, 64)
    field[:, 1, :, 30:34] = torch.tensor([0.0, 3.0, -3.0, 0.0])               # columns swap places: J < 0
    with pytest.warns(RegistrationWarning, match="fold"):
        result = register(fixed, fixed, transform=Dense((64, 64), field=field), iterations=0, levels=1,
                          progress=False)
    assert any("fold" in message for message in result.warnings)


def test_warns_when_the_images_do_not_overlap():
    fixed = torch.zeros(1, 1, 32, 32); fixed[..., 4:12, 4:12] = 1.0
    moving = torch.zeros(1, 1, 32, 32); moving[..., 20:28, 20:28] = 1.0
    with pytest.warns(RegistrationWarning):
        result = register(fixed, moving, transform="affine", similarity="ncc", levels=1, iterations=100,
                          learning_rate=0.5, progress=False)
    assert result.warnings


def test_a_good_registration_does_not_warn():
    fixed = brain(2, "cpu")
    with warnings_as_errors():
        result = register(fixed, torch.roll(fixed, 2, dims=3), transform="rigid", similarity="ssd", levels=2,
                          iterations=30, progress=False)
    assert result.warnings == ()


def warnings_as_errors():
    import warnings

    context = warnings.catch_warnings()
    context.__enter__()
    warnings.simplefilter("error", RegistrationWarning)

    class Exit:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            context.__exit__(*exc)

    return Exit()
