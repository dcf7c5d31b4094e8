"""Interactive figures: ipywidgets controls that redraw a matplotlib figure, the same in JupyterLab and Colab.

* :func:`slider` - a slider with its whole label shown, a track wide enough to aim at (about 7 px a step for
  60 steps) and a redraw when it is let go (dragging does not queue a redraw per pixel); the arrow keys move it
  one step once it has focus (click it or Tab to it).
* :func:`interact` - ``ipywidgets.interactive`` over such controls: one figure, drawn once at once and redrawn in
  place; before the cell has run (a notebook just opened) it reads as a line of text, not as
  ``interactive(children=(FloatSlider(…``.
* :func:`viewer` - mode switch, before/after toggle, slice slider (3D) and tile size that redraw
  :func:`reglab.visualization.compare_view`; a control that does nothing in the current mode is disabled.

ipywidgets (7.x, as in Colab, or 8.x) is imported when one of them is called, so the static plots work without it.

Labs 00-04, 06 and 08 use this module.
"""

import matplotlib.pyplot as plt
import torch  # noqa: F401  (the example below builds tensors)

from reglab.visualization._slicing import _volume
from reglab.visualization.figures import MODES, compare_view

SLIDER_WIDTH = "460px"
"""Width of a slider, its label and readout included: the track is about 300 px (ipywidgets' default: 124 px)."""

PLACEHOLDER = "[interactive figure: run this cell to draw it and use its controls]"
"""What a saved widget output reads as where no kernel has drawn it yet."""


def slider(description, low, high, value=None, step=None, *, readout_format=None):
    """A slider over ``[low, high]``: an ``IntSlider`` when the bounds, value and step are ints, else a ``FloatSlider``.

    Args:
        description: the label, shown whole (it sets its own width instead of being cut at ~80 px).
        low, high: the range. value: the start (default: the middle). step: default 1 (ints) or 1/100 of the range.
        readout_format: e.g. ``".2f"``; default: as many decimals as ``step`` has.

    Returns:
        An ``ipywidgets.IntSlider`` or ``FloatSlider`` with ``continuous_update=False``.

    Raises:
        ValueError: ``low >= high`` or ``value`` outside ``[low, high]``.

    Example:
        >>> s = slider("angle (°)", -90, 90, 15, 5)
        >>> type(s).__name__, s.value, s.style.description_width, s.layout.width, s.continuous_update
        ('IntSlider', 15, 'initial', '460px', False)
        >>> slider("scale", 0.5, 1.5, 1.0, 0.05).readout_format
        '.2f'
    """
    import ipywidgets as widgets

    if not low < high:
        raise ValueError(f"slider(): expected low < high, got {low!r} and {high!r} for {description!r}.")
    integer = all(isinstance(number, int) for number in (low, high, value, step) if number is not None)
    if value is None:
        value = (low + high) // 2 if integer else (low + high) / 2
    if not low <= value <= high:
        raise ValueError(f"slider(): expected a value in [{low}, {high}], got {value!r} for {description!r}.")
    options = {"description": description, "style": {"description_width": "initial"},
               "layout": widgets.Layout(width=SLIDER_WIDTH), "continuous_update": False}
    if integer:
        return widgets.IntSlider(value=value, min=low, max=high, step=step or 1, **options)
    step = (high - low) / 100 if step is None else step
    if readout_format is None:                                         # 0.05 -> ".2f", 2.0 -> ".1f"
        decimals = f"{step:f}".rstrip("0").partition(".")[2]
        readout_format = f".{min(max(len(decimals), 1), 4)}f"
    return widgets.FloatSlider(value=value, min=low, max=high, step=step, readout_format=readout_format, **options)


def interact(function, **controls):
    """``ipywidgets.interactive(function, **controls)``: controls above one figure that ``function`` draws.

    ``function`` draws with matplotlib and ends with ``plt.show()`` (or leaves its figure open); the cell shows the
    returned widget, so call it as the cell's last expression and do not draw the same figure before it.

    Args:
        function: called with the controls' values as keyword arguments.
        controls: ipywidgets controls (e.g. from :func:`slider`), or fixed values wrapped in ``ipywidgets.fixed``.

    Returns:
        An ``ipywidgets.interactive`` (a ``VBox``: the controls, then the figure's ``Output``).

    Example:
        >>> import contextlib, io
        >>> def draw(angle):
        ...     plt.plot([0, angle]); plt.show()
        >>> with contextlib.redirect_stdout(io.StringIO()):     # outside a notebook the widget prints escape codes
        ...     widget = interact(draw, angle=slider("angle", 0, 90, 30))
        >>> [type(child).__name__ for child in widget.children], repr(widget) == PLACEHOLDER
        (['IntSlider', 'Output'], True)
    """
    import ipywidgets as widgets

    class Interactive(widgets.interactive):
        def __repr__(self):                                            # the text/plain fallback of the saved output
            return PLACEHOLDER

    return Interactive(function, **controls)


def viewer(fixed, moving, warped=None, *, spacing=None, tile=8):
    """An interactive viewer: mode switch, before/after toggle, slice slider (3D) and tile size.

    Works in JupyterLab and Colab with plain ipywidgets and inline matplotlib;
    every change calls :func:`compare_view`, which you can also call yourself.
    The tile slider is enabled in "checkerboard" mode only, the stage toggle only when there is a
    ``warped`` image.

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
        ['mode', 'stage', 'axis', 'slice', 'tile (voxels)']
        >>> widget.children[-2].disabled                        # tiles matter in checkerboard mode only
        True
    """
    import ipywidgets as widgets

    shape = _volume("viewer", fixed).shape
    three_d = len(shape) == 3
    wide = {"style": {"description_width": "initial"}}
    controls = {
        "mode": widgets.ToggleButtons(options=MODES, value="overlay", description="mode", **wide),
        "stage": widgets.ToggleButtons(options=("before", "after") if warped is not None else ("before",),
                                       value="after" if warped is not None else "before", description="stage",
                                       disabled=warped is None, **wide),
        "axis": slider("axis", 0, 2, 0) if three_d else widgets.fixed(0),
        "index": slider("slice", 0, shape[0] - 1, shape[0] // 2) if three_d else widgets.fixed(None),
        "tile": slider("tile (voxels)", 1, 64, tile),
    }
    controls["tile"].disabled = controls["mode"].value != "checkerboard"

    def follow_mode(change):                                         # tiles only mean something in a checkerboard
        controls["tile"].disabled = change["new"] != "checkerboard"
    controls["mode"].observe(follow_mode, names="value")

    if three_d:
        def follow_axis(change):                                     # the slider spans the chosen axis
            controls["index"].max = shape[change["new"]] - 1
            controls["index"].value = shape[change["new"]] // 2
        controls["axis"].observe(follow_axis, names="value")

    def draw(mode, stage, axis, index, tile):
        compare_view(fixed, moving, warped, mode=mode, stage=stage, axis=axis, index=index, tile=tile,
                     spacing=spacing)
        plt.show()

    return interact(draw, **controls)
