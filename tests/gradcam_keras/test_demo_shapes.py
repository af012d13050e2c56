"""The synthetic shapes generator, checked against geometry computed in the tests."""

import numpy as np
import pytest
import scipy.ndimage as ndi

from gradcam_keras.demo import shapes

# Analytic areas for circumradius r, derived independently of the package's vertex lists:
# square and triangle are regular polygons (k/2 r^2 sin(2 pi/k)); the star is ten triangles
# with sides r and 0.45 r around 36 degrees; the cross is two bars 6r/sqrt10 long and
# 2r/sqrt10 wide minus their shared square: 2 (6r/sqrt10)(2r/sqrt10) - (2r/sqrt10)^2 = 2 r^2.
AREA_OVER_R2 = {
    "circle": np.pi,
    "square": 2.0,
    "triangle": 3 * np.sqrt(3) / 4,
    "star": 5 * 0.45 * np.sin(np.pi / 5),
    "cross": 24 / 10 - 4 / 10,
}
# Rotations that map each shape onto itself.
SYMMETRY = {"square": np.pi / 2, "triangle": 2 * np.pi / 3, "star": 2 * np.pi / 5,
            "cross": np.pi / 2}


@pytest.fixture(scope="module")
def batch():
    return shapes.generate(300, seed=11)


@pytest.fixture(scope="module")
def wide_batch():
    return shapes.generate(120, seed=12, size=(48, 96))


def test_arrays_have_documented_shapes_and_types(wide_batch):
    assert wide_batch.images.shape == (120, 48, 96, 3) and wide_batch.images.dtype == np.uint8
    assert wide_batch.labels.shape == (120,) and wide_batch.labels.dtype == np.int64
    assert wide_batch.boxes.shape == (120, 4)
    assert wide_batch.masks.shape == wide_batch.clutter.shape == (120, 48, 96)
    assert wide_batch.masks.dtype == wide_batch.clutter.dtype == bool
    assert wide_batch.class_names == shapes.CLASS_NAMES and len(wide_batch) == 120
    assert set(np.unique(wide_batch.labels)) <= set(range(len(shapes.CLASS_NAMES)))


@pytest.mark.parametrize("name", ["batch", "wide_batch"])
def test_boxes_are_tight_and_hold_every_object_pixel(name, request):
    data = request.getfixturevalue(name)
    for mask, box in zip(data.masks, data.boxes, strict=True):
        rows, cols = np.nonzero(mask)
        assert tuple(box) == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
        x0, y0, x1, y1 = box
        assert mask[y0:y1, x0:x1].sum() == mask.sum()
        # Placement keeps a one-pixel border free, so the whole shape is visible.
        assert x0 >= 1 and y0 >= 1 and x1 <= mask.shape[1] - 1 and y1 <= mask.shape[0] - 1


def test_wide_images_place_objects_along_the_width(wide_batch):
    # With height and width swapped somewhere, no box could start right of column 48.
    assert wide_batch.boxes[:, 2].max() > 60 and wide_batch.boxes[:, 0].max() > 48


def test_labels_are_roughly_balanced(batch, wide_batch):
    labels = np.concatenate([batch.labels, wide_batch.labels])
    counts = np.bincount(labels, minlength=len(shapes.CLASS_NAMES))
    expected = len(labels) / len(counts)
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 18.5  # 4 degrees of freedom: P(chi2 > 18.5) < 0.001 for uniform labels


def test_same_seed_reproduces_and_other_seeds_differ():
    first, again = shapes.generate(6, seed=5), shapes.generate(6, seed=5)
    for field in ("images", "labels", "boxes", "masks", "clutter"):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    other = shapes.generate(6, seed=6)
    assert all((a != b).any() for a, b in zip(first.images, other.images, strict=True))
    # Seeds are SeedSequence entropy: (5, 1), a training stream, is not the int seed 5.
    assert not np.array_equal(shapes.generate(6, seed=(5, 1)).images, first.images)


def test_image_i_does_not_depend_on_batch_size():
    short, long = shapes.generate(3, seed=8), shapes.generate(9, seed=8)
    np.testing.assert_array_equal(short.images, long.images[:3])
    np.testing.assert_array_equal(short.boxes, long.boxes[:3])


def test_clutter_stays_out_of_the_grown_box_and_off_the_object(batch):
    margin = shapes.clutter_margin(64, 64)
    assert margin == 3
    for clutter, mask, box in zip(batch.clutter, batch.masks, batch.boxes, strict=True):
        x0, y0, x1, y1 = box
        grown = clutter[max(y0 - margin, 0):y1 + margin, max(x0 - margin, 0):x1 + margin]
        assert not grown.any()
        assert not (clutter & mask).any()
    assert batch.clutter.any(axis=(1, 2)).all(), "every image should have distractors"


def test_distractors_are_thinner_than_every_shape(batch):
    # The thickest distractor (a 2.5 px stroke joint, a dot of radius 1.5) fits a smaller disc
    # than the thinnest shape (the star's core, radius 0.364 r >= 2.8 px at 64 px), so no
    # distractor can pass for a shape. Padding counts the outside of the image as background.
    def thickness(mask):
        return ndi.distance_transform_edt(np.pad(mask, 1)).max()

    thickest_clutter = max(thickness(c) for c in batch.clutter)
    thinnest_object = min(thickness(m) for m in batch.masks)
    assert thickest_clutter < thinnest_object


def test_object_is_one_noisy_colour_that_stands_out(batch):
    for image, mask, clutter in zip(batch.images, batch.masks, batch.clutter, strict=True):
        inside = image[mask].astype(float)
        # One fill colour plus pixel noise of standard deviation at most 12.
        assert inside.std(axis=0).max() < 15
        ring = ndi.binary_dilation(mask, iterations=3) & ~mask & ~clutter
        contrast = np.linalg.norm(inside.mean(axis=0) - image[ring].astype(float).mean(axis=0))
        assert contrast > 0.75 * shapes.MIN_CONTRAST


@pytest.mark.parametrize("kind", shapes.CLASS_NAMES)
def test_expected_pixel_count_equals_the_analytic_area(kind):
    # A pixel counts when its centre is inside, so over a uniformly random sub-pixel offset
    # the expected count is exactly the area; 400 draws make the mean accurate to ~0.1 %.
    rng = np.random.default_rng(0)
    radius = 10.3
    counts = [shapes.shape_mask(kind, (32, 32), rng.uniform(15, 16, 2), radius,
                                rng.uniform(0, 2 * np.pi)).sum() for _ in range(400)]
    assert np.mean(counts) / (AREA_OVER_R2[kind] * radius**2) == pytest.approx(1.0, abs=5e-3)


@pytest.mark.parametrize("kind", [k for k in shapes.CLASS_NAMES if k != "circle"])
def test_polygon_area_by_shoelace_matches_the_formula(kind):
    vertices = shapes.shape_vertices(kind, (3.0, -2.0), 5.0, 0.7)
    x, y = vertices[:, 0], vertices[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    assert area == pytest.approx(AREA_OVER_R2[kind] * 25.0, rel=1e-12)
    np.testing.assert_allclose(np.hypot(x - 3.0, y + 2.0).max(), 5.0, rtol=1e-12)


@pytest.mark.parametrize("kind", list(SYMMETRY))
def test_shapes_are_invariant_under_their_rotations(kind):
    centre, radius, angle = (20.37, 19.81), 13.0, 0.3
    base = shapes.shape_mask(kind, (40, 40), centre, radius, angle)
    turned = shapes.shape_mask(kind, (40, 40), centre, radius, angle + SYMMETRY[kind])
    # Only pixel centres within rounding distance of an edge may flip.
    assert (base != turned).sum() <= 2


@pytest.mark.parametrize("kind", shapes.CLASS_NAMES)
def test_masks_lie_inside_the_circumcircle(kind):
    xs, ys = np.meshgrid(np.arange(40) + 0.5, np.arange(40) + 0.5)
    mask = shapes.shape_mask(kind, (40, 40), (19.6, 20.2), 12.0, 1.1)
    assert ((xs[mask] - 19.6) ** 2 + (ys[mask] - 20.2) ** 2 <= 144.0 + 1e-9).all()
    assert mask[20, 19]  # the centre pixel is inside every shape


def test_mask_box_on_a_hand_made_mask():
    mask = np.zeros((6, 7), bool)
    mask[2, 3] = mask[4, 5] = True
    assert shapes.mask_box(mask) == (3, 2, 6, 5)
    with pytest.raises(ValueError, match="empty"):
        shapes.mask_box(np.zeros((3, 3), bool))


@pytest.mark.parametrize(("kwargs", "error", "names"), [
    ({"n": 0}, ValueError, "n must be at least 1"),
    ({"n": 2.5}, TypeError, "n must be an int"),
    ({"n": 2, "size": 16}, ValueError, "size sides"),
    ({"n": 2, "size": (64, 2000)}, ValueError, "size sides"),
    ({"n": 2, "size": "64"}, TypeError, "size must be"),
    ({"n": 2, "size": (64.0, 64)}, TypeError, "size must be"),
    ({"n": 2, "seed": -1}, ValueError, "seed must be non-negative"),
    ({"n": 2, "seed": "a"}, TypeError, "seed must be"),
    ({"n": 2, "seed": ()}, TypeError, "seed must be"),
])
def test_bad_arguments_are_named_in_the_error(kwargs, error, names):
    with pytest.raises(error, match=names):
        shapes.generate(**kwargs)


def test_unknown_kind_lists_the_valid_ones():
    with pytest.raises(ValueError, match="hexagon.*circle"):
        shapes.shape_mask("hexagon", (8, 8), (4, 4), 3)
