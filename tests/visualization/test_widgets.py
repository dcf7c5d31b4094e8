"""Tests for reglab.visualization.widgets: the viewer's controls drive compare_view."""

import contextlib
import io

import pytest
import torch

from reglab import visualization as vz

SIZES = {2: (12, 16), 3: (8, 10, 12)}


def images(ndim, device, count=3):
    return [torch.rand(1, 1, *SIZES[ndim], device=device) for _ in range(count)]


@pytest.mark.parametrize("ndim", [2, 3])
def test_viewer_controls_drive_compare_view(ndim, device):
    import ipywidgets

    fixed, moving, warped = images(ndim, device)
    with contextlib.redirect_stdout(io.StringIO()):
        widget = vz.viewer(fixed, moving, warped, tile=4)
        controls = {child.description: child for child in widget.children if hasattr(child, "description")}
        assert isinstance(widget, ipywidgets.interactive)
        assert controls["mode"].options == vz.MODES and controls["stage"].options == ("before", "after")
        assert ("slice" in controls) == (ndim == 3)
        controls["mode"].value = "checkerboard"                        # a change redraws without error
        controls["stage"].value = "before"
        if ndim == 3:
            controls["axis"].value = 2
            assert controls["slice"].max == SIZES[3][2] - 1 and controls["slice"].value == SIZES[3][2] // 2
    only_before = vz.viewer(fixed, moving)
    assert [c.options for c in only_before.children if getattr(c, "description", "") == "stage"] == [("before",)]


def test_viewer_disables_the_controls_that_do_nothing():
    """The tile slider only matters in checkerboard mode; the stage toggle only when there is a warped image."""
    fixed, moving, warped = images(2, "cpu")
    with contextlib.redirect_stdout(io.StringIO()):
        widget = vz.viewer(fixed, moving, warped, tile=4)
        controls = {child.description: child for child in widget.children if hasattr(child, "description")}
        tile = controls["tile (voxels)"]
        assert tile.disabled and controls["mode"].value == "overlay"
        controls["mode"].value = "checkerboard"
        assert not tile.disabled
        controls["mode"].value = "difference"
        assert tile.disabled
        assert not controls["stage"].disabled
        alone = vz.viewer(fixed, moving)
    assert [c.disabled for c in alone.children if getattr(c, "description", "") == "stage"] == [True]


def test_slider_shows_its_whole_label_redraws_on_release_and_counts_in_its_own_type():
    from reglab.visualization.widgets import SLIDER_WIDTH, slider

    angle = slider("angle (°)", -90, 90, 15, 5)
    scale = slider("magnitude (vox)", 0.5, 1.5, 1.05, 0.05)
    for control in (angle, scale):
        assert control.style.description_width == "initial"          # not cut at ipywidgets' default ~80 px
        assert control.layout.width == SLIDER_WIDTH and int(SLIDER_WIDTH.rstrip("px")) >= 400
        assert control.continuous_update is False
    assert type(angle).__name__ == "IntSlider" and (angle.min, angle.max, angle.step, angle.value) == (-90, 90, 5, 15)
    assert type(scale).__name__ == "FloatSlider" and scale.readout_format == ".2f" and scale.value == 1.05
    assert slider("λ", 0.0, 1.0).value == 0.5 and slider("n", 0, 9).value == 4
    with pytest.raises(ValueError, match=r"slider\(\): expected low < high"):
        slider("x", 1, 1)
    with pytest.raises(ValueError, match=r"slider\(\): expected a value in \[0, 10\], got 11"):
        slider("x", 0, 10, 11)


def test_interact_is_one_output_and_reads_as_a_line_of_text_before_it_runs():
    import ipywidgets

    from reglab.visualization.widgets import PLACEHOLDER, interact, slider

    calls = []
    with contextlib.redirect_stdout(io.StringIO()):
        widget = interact(lambda lam, bins: calls.append((lam, bins)), lam=slider("λ", 0.0, 1.0, 0.3, 0.05),
                          bins=ipywidgets.fixed(32))
    assert isinstance(widget, ipywidgets.interactive) and repr(widget) == PLACEHOLDER
    assert [type(c).__name__ for c in widget.children] == ["FloatSlider", "Output"]
    assert calls == [(0.3, 32)]                                        # drawn once at once
    widget.children[0].value = 0.5
    assert calls[-1] == (0.5, 32)
