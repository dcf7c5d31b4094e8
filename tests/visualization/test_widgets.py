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
