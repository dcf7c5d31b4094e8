"""Visual assessment of a registration: the pictures that go with the numbers of :mod:`reglab.evaluation`.

=======================  =====================================================================  ==================
file                     what it holds                                                          labs
=======================  =====================================================================  ==================
:mod:`.figures`          fixed / moving / warped, overlay, checkerboard, difference,            02, 04, 05, 06,
                         :func:`compare_view` of :data:`MODES`, stages, orthogonal 3D slices    07, 08
:mod:`.deformation`      deformation grid, quiver, Jacobian-determinant map, curl map           02, 04, 06, 07, 08
:mod:`.points`           landmarks with their TRE segments                                      08
:mod:`.widgets`          :func:`viewer` (controls that redraw :func:`compare_view`);            00-04, 06, 08
                         :func:`slider` and :func:`interact` for the labs' interactive figures
:mod:`._slicing`         private: tensor → 2D plane, slices, mm extents, axis labels            (all of the above)
=======================  =====================================================================  ==================

Conventions shared by every function:

* inputs are reglab tensors (``(B, C, *spatial)`` images, ``(B, ndim, *spatial)``
  displacements in voxels; the first batch element and channel are shown) or
  plain 2D/3D arrays;
* a 3D volume is shown as the slice ``index`` (default: the middle) across
  ``axis`` (default 0); the two remaining axes become rows and columns;
* ``spacing`` (mm, axis order) scales the axes to mm; without it they are in voxels;
* every plot takes an optional ``ax`` (or ``axes``), labels its axes with units
  and returns the axes it drew on (an ``Axes``, or a NumPy array of them).

Lab 08 ("Evaluation") uses every function here.
"""

from reglab.visualization.deformation import curl_map, deformation_grid, jacobian_map, quiver
from reglab.visualization.figures import (MODES, checkerboard, checkerboard_image, compare_view, difference,
                                          orthogonal_slices, overlay, overlay_image, show_registration, show_stages)
from reglab.visualization.points import landmarks
from reglab.visualization.widgets import interact, slider, viewer

__all__ = [
    "MODES", "checkerboard", "checkerboard_image", "compare_view", "curl_map", "deformation_grid", "difference",
    "interact", "jacobian_map", "landmarks", "orthogonal_slices", "overlay", "overlay_image", "quiver",
    "show_registration", "show_stages", "slider", "viewer",
]
