"""reglab.io: geometry, file round trips, ITK transform export checked with SimpleITK itself."""

import numpy as np
import pytest
import SimpleITK as sitk
import torch

import reglab
from reglab.fields import affine_to_displacement
from reglab.io import (Geometry, affine_to_itk, displacement_to_itk, from_sitk, itk_to_displacement, read_image,
                       to_sitk, write_image, write_transform)


def rotation(ndim, seed):
    g = torch.Generator().manual_seed(seed)
    q = torch.linalg.qr(torch.randn(ndim, ndim, generator=g, dtype=torch.float64))[0]
    return tuple(q.flatten().tolist())


GEOMETRIES = {
    2: (Geometry((1.5, 0.7), (10.0, -4.0), rotation(2, 1)), Geometry((1.0, 1.2), (2.0, 3.0), rotation(2, 2))),
    3: (Geometry((2.0, 1.5, 0.8), (10.0, -5.0, 3.0), rotation(3, 1)), Geometry((1.0, 1.2, 0.9), (0.0, 2.0, 1.0), rotation(3, 2))),
}


@pytest.mark.parametrize("ndim", [2, 3])
def test_index_to_physical_matches_simpleitk(ndim):
    geometry = GEOMETRIES[ndim][0]
    image = to_sitk(torch.zeros(1, 1, *[6] * ndim), geometry)
    index = torch.tensor([[1.0, 2.0, 3.0][:ndim], [4.5, 0.25, 2.0][:ndim]], dtype=torch.float64)
    expected = [image.TransformContinuousIndexToPhysicalPoint(p[::-1]) for p in index.tolist()]   # ITK: (x, y, z)
    physical = geometry.index_to_physical(index)
    assert torch.allclose(physical, torch.tensor(expected, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(geometry.physical_to_index(physical), index, atol=1e-9)


@pytest.mark.parametrize("suffix", [".nii.gz", ".mha", ".nrrd"])
def test_write_read_round_trip(tmp_path, suffix):
    geometry = GEOMETRIES[3][0]
    data = torch.rand(1, 1, 4, 5, 6)
    write_image(tmp_path / f"image{suffix}", data, geometry)
    image = read_image(tmp_path / f"image{suffix}")
    assert torch.allclose(image.data, data)
    assert np.allclose(image.geometry.spacing, geometry.spacing)
    assert np.allclose(image.geometry.origin, geometry.origin)
    assert np.allclose(image.geometry.direction, geometry.direction, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == [f"image{suffix}"]      # no temporary files left


def test_labels_come_back_as_integers_and_png_round_trip(tmp_path):
    labels = torch.randint(0, 5, (1, 1, 6, 7))
    write_image(tmp_path / "labels.nii.gz", labels.to(torch.int32))
    assert torch.equal(read_image(tmp_path / "labels.nii.gz", labels=True).data, labels)
    picture = torch.randint(0, 255, (1, 1, 6, 7), dtype=torch.uint8)
    write_image(tmp_path / "slice.png", picture)
    assert torch.equal(read_image(tmp_path / "slice.png", labels=True).data, picture.long())
    assert torch.equal(read_image(tmp_path / "slice.png").data, picture.float())


@pytest.mark.parametrize("dtype, expected", [(np.uint8, torch.float32), (np.int16, torch.float32),
                                             (np.uint16, torch.float32), (np.int32, torch.float64),
                                             (np.float32, torch.float32), (np.float64, torch.float64)])
def test_a_scan_reads_as_floating_point_with_its_values(tmp_path, dtype, expected):
    """An integer scan (uint8, int16 CT) reads as floats with exactly its values, ready for register()."""
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    low, high = (max(info.min, -3000), min(info.max, 3000)) if info else (-3000, 3000)
    array = np.random.default_rng(0).integers(low, high, size=(4, 5, 6)).astype(dtype)
    sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / "scan.nii.gz"))
    data = read_image(tmp_path / "scan.nii.gz").data
    assert data.dtype == expected and data.is_floating_point()
    assert np.array_equal(data[0, 0].double().numpy(), array.astype(np.float64))
    reglab.similarity.ncc(data, data)                                        # accepted by the measures


def test_itk_to_displacement_dtype(tmp_path):
    """float64 on request (ITK's own precision), else torch's default dtype; it was always float32."""
    fixed, moving = GEOMETRIES[3]
    matrix = torch.tensor([[1.05, 0.1, 0.0, 2.0], [0.0, 0.95, 0.1, -1.0], [0.05, 0.0, 1.0, 0.5]], dtype=torch.float64)
    transform = affine_to_itk(matrix, fixed, moving)
    u = itk_to_displacement(transform, fixed, (5, 6, 4), moving, dtype=torch.float64)
    assert u.dtype == torch.float64
    torch.testing.assert_close(u, affine_to_displacement(matrix[None], (5, 6, 4)), atol=1e-10, rtol=0)
    assert itk_to_displacement(transform, fixed, (5, 6, 4), moving).dtype == torch.get_default_dtype()
    with pytest.raises(TypeError, match=r"itk_to_displacement\(\): expected a floating-point `dtype`"):
        itk_to_displacement(transform, fixed, (5, 6, 4), moving, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"itk_to_displacement\(\): expected `size` of 3 positive ints"):
        itk_to_displacement(transform, fixed, (5, 0, 4), moving)


def test_dicom_series_folder(tmp_path):
    """A folder of 2D DICOM slices reads as one volume, in slice order, with its spacing."""
    volume = torch.randint(0, 1000, (1, 1, 3, 5, 6), dtype=torch.int16)
    geometry = Geometry((2.0, 1.5, 0.8), (10.0, -5.0, 3.0), tuple(np.eye(3).flatten().tolist()))
    image = to_sitk(volume, geometry)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(3):
        piece = image[:, :, k]
        piece.SetMetaData("0020|000e", "1.2.826.0.1.3680043.2.1125.1.1")      # one series
        piece.SetMetaData("0008|0018", f"1.2.826.0.1.3680043.2.1125.1.1.{k}")  # one instance per slice
        piece.SetMetaData("0020|0013", str(k))
        piece.SetMetaData("0020|0032", "\\".join(map(str, image.TransformIndexToPhysicalPoint((0, 0, k)))))
        piece.SetMetaData("0020|0037", "1\\0\\0\\0\\1\\0")
        writer.SetFileName(str(tmp_path / f"slice{k}.dcm"))
        writer.Execute(piece)
    read = read_image(tmp_path)
    assert torch.equal(read.data, volume.long())
    assert np.allclose(read.geometry.spacing, geometry.spacing)


def test_read_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"read_image\(\): no such file"):
        read_image(tmp_path / "missing.nii.gz")
    (tmp_path / "broken.nii.gz").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"read_image\(\): SimpleITK cannot read"):
        read_image(tmp_path / "broken.nii.gz")
    with pytest.raises(ValueError, match=r"read_image\(\): expected a DICOM series"):
        read_image(tmp_path.joinpath("empty").mkdir() or tmp_path / "empty")


def test_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match=r"write_image\(\): SimpleITK cannot write"):
        write_image(tmp_path / "slice.png", torch.rand(1, 1, 3, 4, 5))        # PNG cannot hold a float volume
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ndim", [2, 3])
def test_affine_export_moves_points_like_reglab(ndim, tmp_path):
    fixed, moving = GEOMETRIES[ndim]
    matrix = torch.eye(ndim, ndim + 1, dtype=torch.float64)
    matrix[:, :ndim] += 0.1 * torch.randn(ndim, ndim, dtype=torch.float64)
    matrix[:, ndim] = torch.randn(ndim, dtype=torch.float64)
    write_transform(tmp_path / "affine.tfm", affine_to_itk(matrix, fixed, moving))
    transform = sitk.ReadTransform(str(tmp_path / "affine.tfm"))
    x = 5 * torch.rand(7, ndim, dtype=torch.float64)
    y = x @ matrix[:, :ndim].T + matrix[:, ndim]                          # reglab: fixed voxel -> moving voxel
    mapped = [transform.TransformPoint(p) for p in fixed.index_to_physical(x).tolist()]
    assert torch.allclose(moving.physical_to_index(torch.tensor(mapped, dtype=torch.float64)), y, atol=1e-8)


@pytest.mark.parametrize("ndim", [2, 3])
def test_displacement_export_resamples_like_reglab_warp(ndim, tmp_path):
    """SimpleITK reads the written field back and Resample gives reglab.warp's image."""
    fixed, moving = GEOMETRIES[ndim]
    size = (12, 14, 10)[:ndim]
    image = torch.nn.functional.interpolate(torch.rand(1, 1, *[4] * ndim), size=size, align_corners=True,
                                            mode="bilinear" if ndim == 2 else "trilinear")
    u = torch.nn.functional.interpolate(torch.randn(1, ndim, *[3] * ndim), size=size, align_corners=True,
                                        mode="bilinear" if ndim == 2 else "trilinear")
    write_transform(tmp_path / "field.h5", displacement_to_itk(u, fixed, moving))
    transform = sitk.ReadTransform(str(tmp_path / "field.h5"))
    reference = to_sitk(torch.zeros(1, 1, *size), fixed)
    resampled = sitk.Resample(to_sitk(image, moving), reference, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    expected = from_sitk(resampled).data
    warped = reglab.warp(image, u)
    x = reglab.grid.identity_grid(size) + u
    inside = ((x >= 0) & (x <= torch.tensor(size).reshape(1, ndim, *[1] * ndim) - 1)).all(1, keepdim=True)
    assert torch.allclose(warped[inside], expected[inside], atol=1e-5)
    assert torch.allclose(itk_to_displacement(transform, fixed, size, moving), u, atol=1e-4)


def test_itk_to_displacement_of_an_affine(tmp_path):
    fixed, moving = GEOMETRIES[3]
    matrix = torch.tensor([[1.05, 0.1, 0.0, 2.0], [0.0, 0.95, 0.1, -1.0], [0.05, 0.0, 1.0, 0.5]], dtype=torch.float64)
    u = itk_to_displacement(affine_to_itk(matrix, fixed, moving), fixed, (5, 6, 4), moving)
    assert torch.allclose(u, affine_to_displacement(matrix[None].float(), (5, 6, 4)), atol=1e-4)


def test_geometry_errors():
    with pytest.raises(ValueError, match=r"Geometry\(\): expected positive `spacing`"):
        Geometry((1.0, -1.0), (0.0, 0.0), (1.0, 0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match=r"to_sitk\(\): expected a 3D `geometry`"):
        to_sitk(torch.zeros(1, 1, 2, 3, 4), Geometry.default(2))
