"""fixation_heatmap: equals full-resolution rendering + area resize, crops, sigmas, unusable input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from gazecxr.gaze import fixation_heatmap


def reference(x, y, w, image_size, out_size, sigma, crop=None) -> np.ndarray:
    """REFLACX's procedure at full resolution: per fixation a unit-mass Gaussian density
    (scipy's multivariate_normal) at pixel centres, cut to the crop, times its weight; summed,
    area-resized and normalised (pixel i spans [i, i + 1); the crop is [x0, x1) x [y0, y1))."""
    h_img, w_img = image_size
    yy, xx = np.mgrid[0:h_img, 0:w_img].astype(np.float64) + 0.5
    pos = np.stack([xx, yy], axis=-1)
    full = np.zeros(image_size)
    for k in range(len(x)):
        g = multivariate_normal([x[k], y[k]], [sigma**2, sigma**2]).pdf(pos) * w[k]
        if crop is not None:
            x0, y0, x1, y1 = crop
            g[(xx < x0) | (xx >= x1) | (yy < y0) | (yy >= y1)] = 0
        full += g
    oh, ow = out_size
    small = full.reshape(oh, h_img // oh, ow, w_img // ow).sum(axis=(1, 3))
    return small / small.sum()


def test_matches_full_resolution_reference() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 240, 12), rng.uniform(0, 200, 12)
    w = rng.uniform(0.1, 1.0, 12)
    got = fixation_heatmap(x, y, w, (200, 240), (20, 24), 9.0)
    ref = reference(x, y, w, (200, 240), (20, 24), 9.0)
    assert got.dtype == np.float32 and got.shape == (20, 24)
    assert abs(float(got.sum()) - 1.0) < 1e-5
    np.testing.assert_allclose(got, ref, atol=2e-4)
    # Cells straddling a crop edge get exactly the part inside it.
    half = fixation_heatmap([100], [100], None, (200, 200), (2, 2), 1e6, crop=(50, 0, 200, 200))
    np.testing.assert_allclose(half, [[1 / 6, 1 / 3], [1 / 6, 1 / 3]], rtol=1e-5)


def test_crop_cuts_each_gaussian() -> None:
    crop = (40, 40, 120, 120)  # cells 4..11 of a 10-px grid
    got = fixation_heatmap([60, 100], [60, 100], [1, 1], (200, 200), (20, 20), 30.0, crop=crop)
    ref = reference(np.array([60, 100]), np.array([60, 100]), [1, 1], (200, 200), (20, 20), 30.0, crop=crop)
    np.testing.assert_allclose(got, ref, atol=2e-4)
    outside = np.ones((20, 20), bool)
    outside[4:12, 4:12] = False
    assert got[outside].max() == 0.0


def test_peak_and_per_fixation_sigma() -> None:
    m = fixation_heatmap([305], [105], None, (400, 600), (40, 60), np.array([[20.0, 5.0]]))
    assert np.unravel_index(m.argmax(), m.shape) == (10, 30)
    # sigma_y < sigma_x: the blob is wider than tall.
    assert (m[10] > 1e-4).sum() > (m[:, 30] > 1e-4).sum()


def test_zoom_changes_sigma_not_mass() -> None:
    """Unit-mass densities (REFLACX's reference): two groups of equal-duration fixations, one
    at twice the sigma (2x zoom halves the pixels per degree), get equal mass. Unit-peak
    Gaussians gave 4 : 1 here."""
    x = np.array([150.0, 160, 140, 450, 460, 440])
    y = np.array([200.0, 190, 210, 200, 190, 210])
    sigma = np.array([20.0, 20, 20, 40, 40, 40])
    m = fixation_heatmap(x, y, np.full(6, 0.3), (400, 600), (40, 60), sigma)
    ratio = m[:, 30:].sum() / m[:, :30].sum()
    assert ratio == pytest.approx(1.0, abs=0.05)
    # A per-axis sigma too: an anisotropic density still has unit mass.
    m2 = fixation_heatmap(
        [150, 450], [200, 200], [1, 1], (400, 600), (40, 60), np.array([[10, 30], [40, 20]])
    )
    assert m2[:, 30:].sum() / m2[:, :30].sum() == pytest.approx(1.0, abs=0.01)


def test_fixation_outside_crop_adds_its_inside_part() -> None:
    """As in the reference, a fixation centred just outside the crop adds the part of its
    density inside (it is not dropped); one far outside adds nothing."""
    near = fixation_heatmap([95], [50], None, (100, 200), (10, 20), 10.0, crop=(100, 0, 200, 100))
    assert near.sum() == pytest.approx(1.0) and near[:, :10].max() == 0.0 and near[:, 10].sum() > 0.5
    far = fixation_heatmap([-517], [50], None, (100, 200), (10, 20), 10.0, crop=(100, 0, 200, 100))
    assert not far.any()


@pytest.mark.parametrize(
    "x, y, w",
    [
        ([], [], []),
        ([np.nan, 10], [5, np.nan], [1, 1]),
        ([10, 20], [10, 20], [0, -1]),
        ([-517, 5219], [10, 20], [1, 1]),  # centres far off the image: no mass inside
    ],
)
def test_unusable_gives_zero_map_without_warnings(x, y, w) -> None:
    with np.errstate(all="raise"):
        m = fixation_heatmap(x, y, w, (100, 100), (8, 8), 10.0)
    assert m.shape == (8, 8) and m.dtype == np.float32 and not m.any()


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="sigma"):
        fixation_heatmap([1, 2, 3], [1, 2, 3], None, (10, 10), (4, 4), np.ones(2))
    with pytest.raises(ValueError, match="differ"):
        fixation_heatmap([1, 2], [1], None, (10, 10), (4, 4), 1.0)
    with pytest.raises(ValueError, match="positive"):
        fixation_heatmap([1], [1], None, (0, 10), (4, 4), 1.0)


def test_nan_crop_bounds_mean_image_edge() -> None:
    a = fixation_heatmap([50], [50], None, (100, 100), (10, 10), 10.0, crop=[np.nan] * 4)
    b = fixation_heatmap([50], [50], None, (100, 100), (10, 10), 10.0)
    np.testing.assert_array_equal(a, b)
