"""The interactive viewer: ipywidgets controls that redraw :func:`reglab.visualization.compare_view`.

ipywidgets is imported when :func:`viewer` is called, so the static plots work without it.

Lab 08 ("Evaluation") uses this module.
"""

import matplotlib.pyplot as plt
import torch  # noqa: F401  (the example below builds tensors)

from reglab.visualization._slicing import _volume
from reglab.visualization.figures import MODES, compare_view


def viewer(fixed, moving, warped=None, *, spacing=None, tile=8):
    """An interactive viewer: mode switch, before/after toggle, slice slider (3D) and tile size.

    Works in JupyterLab and Colab with plain ipywidgets and inline matplotlib;
    every change calls :func:`compare_view`, which you can also call yourself.

    Args:
        fixed, moving, warped: images of the same shape; without ``warped`` only "before" is offered.
        spacing: mm, axis order. tile: the initial checkerboard tile in voxels.

    Returns:
        An ``ipywidgets.interactive`` widget (display it as a cell's last expression).

    Example:
        >>> import contextlib, io
        >>> f = torch.rand(1, 1, 6, 8, 8)
        >>> with contextlib.redirect_stdout(io.StringIO()):     # outside a notebook the widget prints escape codes
        ...     widget = viewer(f, f.flip(2), f)
        >>> [child.description for child in widget.children[:-1]]
        ['mode', 'stage', 'axis', 'slice', 'tile']
    """
    import ipywidgets as widgets

    shape = _volume("viewer", fixed).shape
    three_d = len(shape) == 3
    controls = {
        "mode": widgets.ToggleButtons(options=MODES, value="overlay", description="mode"),
        "stage": widgets.ToggleButtons(options=("before", "after") if warped is not None else ("before",),
                                       value="after" if warped is not None else "before", description="stage"),
        "axis": widgets.IntSlider(0, 0, 2, description="axis") if three_d else widgets.fixed(0),
        "index": widgets.IntSlider(shape[0] // 2, 0, shape[0] - 1, description="slice") if three_d
        else widgets.fixed(None),
        "tile": widgets.IntSlider(tile, 1, 64, description="tile"),
    }
    if three_d:
        def follow_axis(change):                                     # the slider spans the chosen axis
            controls["index"].max = shape[change["new"]] - 1
            controls["index"].value = shape[change["new"]] // 2
        controls["axis"].observe(follow_axis, names="value")

    def draw(mode, stage, axis, index, tile):
        compare_view(fixed, moving, warped, mode=mode, stage=stage, axis=axis, index=index, tile=tile,
                     spacing=spacing)
        plt.show()

    return widgets.interactive(draw, **controls)
