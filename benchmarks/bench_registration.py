"""Classical registration, accuracy and speed: reglab vs SimpleITK (and itk-elastix when installed).

    python benchmarks/bench_registration.py [--case 2d-ncc|2d-mi|3d-ncc|3d-mi|all] [--threads 1]
                                            [--device cpu] [--methods reglab,SimpleITK,itk-elastix]

One case per run keeps each run to a few minutes (``--case all`` runs the four in turn).

Pairs with a known answer, made by :func:`reglab.data.synthetic_pair` from the embedded MNI brain:
an affine map composed with a smooth diffeomorphic deformation (the true displacement is known at
every voxel):

* ``2d-ncc``: the 196 × 160 axial slice (1 mm), same contrast; affine ±8°, ±6 voxels, ±5 % scale,
  ±2 % shear; deformation with largest velocity 3 voxels, smoothness 16 voxels; correlation metrics;
* ``2d-mi``: the same pair with a synthetic T2-weighted moving image (bias field, noise); MI metrics;
* ``3d-ncc``: the volume averaged to 4 mm, 42 × 49 × 40 voxels (the labels are the most frequent
  tissue of each 2³ block); affine ±8°, ±3 voxels, ±5 % scale, ±2 % shear; deformation with
  largest velocity 2 voxels, smoothness 8 voxels; correlation metrics;
* ``3d-mi``: the same 3D pair with a T2-weighted moving image; MI metrics.

Every method runs affine then cubic B-spline (final control spacing 8 voxels in 2D, 4 in 3D) on a
3-level pyramid (shrink 4, 2, 1; Gaussian smoothing σ 2, 1, 0 voxels), in voxel units (unit spacing),
with the same number of compute threads (``--threads``):

* **reglab**: :func:`reglab.registration.register_stages` with its defaults for these stages — Adam
  (0.1 voxel steps), at most 100 iterations per level and stage with the default stopping rule,
  NCC (global) or MI (32 bins), a bending-energy weight per case (:data:`CASES`) on the B-spline, control
  mesh refined per level;
* **SimpleITK** ``ImageRegistrationMethod``, its strongest configuration we found: correlation or
  Mattes MI (50 bins), every voxel sampled, ``GradientDescentLineSearch`` (learning rate 1 for the
  affine, 5 for the B-spline; golden-section line search; convergence window 10 at 1e-6; 100 iterations
  per level, except 5 per level for the 3D B-spline, see :data:`SITK_BSPLINE_ITERATIONS`) with scales
  from physical shift; affine from a geometry-centred initializer, then
  ``BSplineTransform`` with ``SetInitialTransformAsBSpline(scaleFactors=[1, 2, 4])`` (the mesh refined
  per level, coarsest 4 times the final spacing), threads set by
  ``sitk.ProcessObject.SetGlobalDefaultNumberOfThreads``;
* **itk-elastix** (``pip install itk-elastix``; skipped when missing): its default affine and
  B-spline parameter maps with 3 resolutions (random sampling of 2048 points, adaptive stochastic
  gradient descent, 256 iterations per level), the same metric family (AdvancedNormalizedCorrelation or
  AdvancedMattesMutualInformation), the final grid spacing above, ``number_of_threads`` as above.

Reported per method: mean endpoint error (EPE, voxels) of the recovered displacement against the
true one inside the brain, Dice of the warped labels (mean over CSF, GM, WM, nearest-neighbour
warping), the percentage of folded voxels (Jacobian determinant ≤ 0), and wall time (seconds,
including the pyramid; for reglab on an accelerator, including the copy of the result back).
"""

import argparse
import time

import numpy as np
import SimpleITK as sitk
import torch
import torch.nn.functional as F

from reglab import io, warp
from reglab.console import tolerate_any_terminal
from reglab.data import load_brain, load_brain_slice, synthetic_pair
from reglab.devices import default_device
from reglab.evaluation import dice, folding_fraction
from reglab.registration import register_stages

CASES = {
    "2d-ncc": dict(ndim=2, contrast="same", metric="ncc", weight=3.0),
    "2d-mi": dict(ndim=2, contrast="t2", metric="mi", weight=100.0),
    "3d-ncc": dict(ndim=3, contrast="same", metric="ncc", weight=1.0),
    "3d-mi": dict(ndim=3, contrast="t2", metric="mi", weight=10.0),
}
"""The pairs, their metric family and reglab's bending-energy weight (the best of 1, 3, 10, 30, 100 on the pair)."""

SPACING = {2: 8, 3: 4}
"""Final B-spline control spacing in voxels, per dimension."""

SITK_BSPLINE_ITERATIONS = {2: 100, 3: 5}
"""SimpleITK's B-spline iterations per level. In 3D each full-resolution iteration costs ~12 s (one thread) and
more iterations make the error grow (3d-ncc with 30 iterations on the coarse levels: EPE 0.19 voxel after 5
full-resolution iterations, 0.21 after 10, 0.27 after 30; 3d-mi: 0.28, 0.30, 0.34 after 5, 10, 20), so 5."""

METHODS = ("reglab", "SimpleITK", "itk-elastix")


def brain_volume_4mm():
    """The embedded volume averaged over 2³ blocks: image and tissue maps averaged, labels by majority."""
    brain = load_brain()
    image, tissues = F.avg_pool3d(brain.image, 2), F.avg_pool3d(brain.tissues, 2)
    votes = F.one_hot(brain.labels[:, 0], 4).movedim(-1, 1).float()           # (1, 4, D, H, W)
    labels = F.avg_pool3d(votes, 2).argmax(1, keepdim=True)                    # (1, 1, D/2, H/2, W/2)
    return image, labels, tissues


def make_pair(ndim, contrast):
    if ndim == 2:
        brain = load_brain_slice("axial")
        image, labels, tissues = brain.image, brain.labels, brain.tissues
        magnitude, smoothness, translation = 3.0, 16.0, 6
    else:
        image, labels, tissues = brain_volume_4mm()
        magnitude, smoothness, translation = 2.0, 8.0, 3
    return synthetic_pair(image, labels, tissues, magnitude=magnitude, smoothness=smoothness,
                          affine=dict(rotation=8, translation=translation, scale=0.05, shear=0.02), contrast=contrast,
                          landmarks=0, seed=0)


def scores(pair, displacement, seconds):
    """(EPE inside the brain, Dice of warped labels, folding fraction, seconds)."""
    inside = (pair.fixed_labels > 0)[:, 0]
    epe = (displacement - pair.displacement).norm(dim=1)[inside].mean().item()
    warped_labels = warp(pair.moving_labels, displacement, mode="nearest")
    overlap = dice(pair.fixed_labels, warped_labels, labels=[1, 2, 3]).mean().item()
    folds = folding_fraction(displacement).mean().item()
    return epe, overlap, folds, seconds


def run_reglab(pair, metric, spacing, weight, device):
    fixed, moving = pair.fixed.to(device), pair.moving.to(device)
    stages = ["affine", {"transform": "bspline", "transform_options": {"spacing": spacing},
                         "regularization": "bending_energy", "weight": weight}]
    start = time.perf_counter()
    result = register_stages(fixed, moving, stages, similarity=metric, levels=3, progress=False)
    displacement = result.displacement.cpu()
    return displacement, time.perf_counter() - start


def _sitk_method(metric):
    method = sitk.ImageRegistrationMethod()
    if metric == "mi":
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    else:
        method.SetMetricAsCorrelation()
    method.SetMetricSamplingStrategy(method.NONE)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2, 1, 0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    return method


def run_simpleitk(pair, metric, spacing):
    geometry = io.Geometry.default(pair.fixed.dim() - 2)
    fixed, moving = io.to_sitk(pair.fixed, geometry), io.to_sitk(pair.moving, geometry)
    ndim = fixed.GetDimension()
    start = time.perf_counter()
    method = _sitk_method(metric)
    method.SetOptimizerAsGradientDescentLineSearch(learningRate=1.0, numberOfIterations=100,
                                                   convergenceMinimumValue=1e-6, convergenceWindowSize=10)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetInitialTransform(sitk.CenteredTransformInitializer(
        fixed, moving, sitk.AffineTransform(ndim), sitk.CenteredTransformInitializerFilter.GEOMETRY), inPlace=False)
    affine = method.Execute(fixed, moving)
    method = _sitk_method(metric)
    mesh = [max(1, round((n - 1) / spacing / 4)) for n in fixed.GetSize()]
    bspline = sitk.BSplineTransformInitializer(fixed, mesh, order=3)
    method.SetInitialTransformAsBSpline(bspline, inPlace=True, scaleFactors=[1, 2, 4])
    method.SetMovingInitialTransform(affine)
    method.SetOptimizerAsGradientDescentLineSearch(learningRate=5.0, numberOfIterations=SITK_BSPLINE_ITERATIONS[ndim],
                                                   convergenceMinimumValue=1e-6, convergenceWindowSize=10)
    method.SetOptimizerScalesFromPhysicalShift()
    method.Execute(fixed, moving)
    composite = sitk.CompositeTransform(ndim)
    composite.AddTransform(affine)
    composite.AddTransform(bspline)                   # acts first, as during the optimisation
    seconds = time.perf_counter() - start
    displacement = io.itk_to_displacement(composite, geometry, pair.fixed.shape[2:], geometry)
    return displacement, seconds


def run_elastix(pair, metric, spacing, threads):
    import itk

    fixed = itk.image_view_from_array(pair.fixed[0, 0].numpy().astype(np.float32))
    moving = itk.image_view_from_array(pair.moving[0, 0].numpy().astype(np.float32))
    parameters = itk.ParameterObject.New()
    for name in ("affine", "bspline"):
        stage = parameters.GetDefaultParameterMap(name, 3)                         # 3 resolutions
        stage["Metric"] = ["AdvancedMattesMutualInformation" if metric == "mi" else "AdvancedNormalizedCorrelation"]
        if name == "bspline":
            stage["FinalGridSpacingInVoxels"] = [str(spacing)]
            stage.pop("FinalGridSpacingInPhysicalUnits", None)
        parameters.AddParameterMap(stage)
    start = time.perf_counter()
    _, result = itk.elastix_registration_method(fixed, moving, parameter_object=parameters, log_to_console=False,
                                                number_of_threads=threads)
    field = itk.transformix_deformation_field(moving, result)
    seconds = time.perf_counter() - start
    vectors = torch.from_numpy(np.asarray(field)).to(torch.float32)            # (*spatial, ndim) physical x, y, z
    displacement = vectors.flip(-1).movedim(-1, 0)[None]                          # tensor axis order, voxels
    return displacement, seconds


def run_case(name, methods, device, threads):
    """Rows ``(method, (EPE, Dice, folds, seconds))`` of one case, starting with no registration (yielded in turn)."""
    case = CASES[name]
    pair = make_pair(case["ndim"], case["contrast"])
    metric, spacing = case["metric"], SPACING[case["ndim"]]
    yield "none", scores(pair, torch.zeros_like(pair.displacement), 0.0)
    if "reglab" in methods:
        yield "reglab", scores(pair, *run_reglab(pair, metric, spacing, case["weight"], device))
    if "SimpleITK" in methods:
        yield "SimpleITK", scores(pair, *run_simpleitk(pair, metric, spacing))
    if "itk-elastix" in methods:
        yield "itk-elastix", scores(pair, *run_elastix(pair, metric, spacing, threads))


def main():
    tolerate_any_terminal()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", default="all", choices=[*CASES, "all"], help="one case, or all in turn")
    parser.add_argument("--device", default=None, help="reglab's device (default: reglab.devices.default_device())")
    parser.add_argument("--threads", type=int, default=1, help="compute threads for every method (default 1)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
    args = parser.parse_args()
    methods = args.methods.split(",")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"--methods: expected names from {METHODS}, got {unknown}")
    torch.set_num_threads(args.threads)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    device = torch.device(args.device) if args.device else default_device()
    if "itk-elastix" in methods:
        try:
            import itk  # noqa: F401
        except ImportError:
            methods.remove("itk-elastix")
            print("itk-elastix not installed: skipped (pip install itk-elastix)")
    print(f"reglab on {device}; {args.threads} thread(s) for every method; SimpleITK {sitk.Version_VersionString()}")
    print(f"{'case':<8} {'method':<12} {'EPE (vox)':>10} {'Dice':>7} {'folds %':>8} {'time (s)':>9}")
    for name in CASES if args.case == "all" else [args.case]:
        for method, (epe, overlap, folds, seconds) in run_case(name, methods, device, args.threads):
            print(f"{name:<8} {method:<12} {epe:>10.3f} {overlap:>7.3f} {100 * folds:>8.2f} {seconds:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
