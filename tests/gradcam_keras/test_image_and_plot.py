"""Loading, preprocessing, upsampling alignment, normalisation, overlay; the figure."""

import keras
import numpy as np
import pytest
from PIL import Image

from gradcam_keras import InputError, figure, load_image, normalize, overlay, preprocess, upsample
from gradcam_keras.image import check_image_file, resize
from gradcam_keras.plot import panel_title


def _hot_cell(h, w, row, col):
    cam = np.zeros((h, w), np.float32)
    cam[row, col] = 1.0
    return cam


@pytest.mark.parametrize("size", [(70, 40), (40, 70), (45, 31)])
def test_nearest_upsampling_puts_a_hot_cell_on_its_own_area(size):
    # A 7x5 map tiles the image in equal areas: cell (i, j) covers rows [i*H/7, (i+1)*H/7).
    H, W = size
    out = upsample(_hot_cell(7, 5, 2, 3), size, order=0)
    assert out.shape == size
    rows, cols = np.nonzero(out)
    centre_row = (np.arange(H) + 0.5) * 7 / H  # image pixel centres in map-cell units
    centre_col = (np.arange(W) + 0.5) * 5 / W
    inside_rows = np.nonzero((centre_row >= 2) & (centre_row < 3))[0]
    inside_cols = np.nonzero((centre_col >= 3) & (centre_col < 4))[0]
    np.testing.assert_array_equal(np.unique(rows), inside_rows)
    np.testing.assert_array_equal(np.unique(cols), inside_cols)


@pytest.mark.parametrize("size", [(70, 40), (45, 31), (224, 300)])
def test_bilinear_upsampling_matches_pixel_area_interpolation(size):
    # Reference: pixel centre p of H sits at map coordinate (p + 0.5) * h / H - 0.5; linear
    # interpolation between cell centres, edges held (np.interp clamps), separably.
    H, W = size
    cam = np.random.default_rng(0).random((7, 5)).astype(np.float32)
    ys = (np.arange(H) + 0.5) * 7 / H - 0.5
    xs = (np.arange(W) + 0.5) * 5 / W - 0.5
    along_rows = np.stack([np.interp(ys, np.arange(7), cam[:, j]) for j in range(5)], axis=1)
    expected = np.stack([np.interp(xs, np.arange(5), along_rows[i]) for i in range(H)])
    np.testing.assert_allclose(upsample(cam, size), expected, atol=1e-6)


def test_hot_cell_peaks_at_the_centre_of_its_area_on_a_non_square_image():
    H, W = 70, 40  # cell (2, 3) of a 7x5 map: centre at pixel (24.5, 27.5)
    out = upsample(_hot_cell(7, 5, 2, 3), (H, W))
    peak = np.argwhere(out == out.max())
    np.testing.assert_allclose(peak.mean(axis=0), [24.5, 27.5])


def test_spline_overshoot_is_clipped():
    cam = _hot_cell(7, 5, 3, 2) * 5.0
    out = upsample(cam, (90, 60), order=3)
    assert out.min() >= 0.0 and out.max() <= 5.0
    assert out.max() > 4.0


def test_normalize_scales_by_the_maximum_and_keeps_zero_maps_zero():
    heat = normalize(np.array([[0.0, 2.0], [-1.0, 4.0]]))
    np.testing.assert_allclose(heat, [[0, 0.5], [0, 1]], atol=1e-6)
    zero = normalize(np.zeros((3, 4)))
    assert np.all(zero == 0) and not np.any(np.isnan(zero))


def test_overlay_blends_jet_at_alpha_half():
    # jet(0) = (0, 0, 0.5) and jet(1) = (0.5, 0, 0): on white and black, by hand.
    white = np.full((1, 2, 3), 255, np.uint8)
    heat = np.array([[0.0, 1.0]], np.float32)
    np.testing.assert_array_equal(overlay(white, heat), [[[128, 128, 191], [191, 128, 128]]])
    np.testing.assert_array_equal(overlay(np.zeros_like(white), heat),
                                  [[[0, 0, 64], [64, 0, 0]]])
    with pytest.raises(InputError, match="upsample"):
        overlay(white, np.zeros((2, 2)))


def test_figure_draws_the_image_then_each_overlay_under_its_title():
    image = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    heat = np.linspace(0.0, 1.0, 30 * 40).reshape(30, 40)
    fig = figure(image, heat, panel_title(242, "boxer", "block5_conv4"))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Original image", "242nd dimension (boxer)\nw.r.t layer block5_conv4"]
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), image)
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), overlay(image, heat))
    grid = figure(image, [heat] * 6, list("abcdef"), heading="six maps", columns=3)
    assert [ax.get_title() for ax in grid.axes if ax.images] == ["Original image", *"abcdef"]
    assert grid.axes[0].get_subplotspec().get_geometry()[:2] == (3, 3)  # 7 panels, 3 a row
    with pytest.raises(InputError, match="3 heatmaps but 2 titles"):
        figure(image, [heat] * 3, ["a", "b"])


def test_preprocess_copies_before_keras_works_in_place():
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    kept = images.copy()
    out = preprocess(images)
    np.testing.assert_array_equal(images, kept)
    np.testing.assert_allclose(out, keras.applications.vgg19.preprocess_input(kept.copy()))
    assert out.dtype == np.float32


def test_resize_to_the_model_input():
    image = np.random.default_rng(0).integers(0, 255, (300, 500, 3), dtype=np.uint8)
    assert resize(image, (224, 224)).shape == (224, 224, 3)
    with pytest.raises(InputError, match="interpolation"):
        resize(image, (8, 8), interpolation="area")


def test_load_rgba_composites_over_white(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = [200, 10, 10, 255]
    rgba[0, 1] = [0, 0, 0, 0]
    rgba[1, 0] = [0, 0, 0, 128]
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0], [200, 10, 10])
    np.testing.assert_array_equal(out[0, 1], [255, 255, 255])
    assert abs(int(out[1, 0, 0]) - 127) <= 1


def test_load_grayscale_palette_and_16_bit(tmp_path):
    Image.fromarray(np.array([[0, 100]], np.uint8), "L").save(tmp_path / "g.png")
    np.testing.assert_array_equal(load_image(tmp_path / "g.png"), [[[0] * 3, [100] * 3]])
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putdata([0, 1])
    palette.save(tmp_path / "p.png")
    np.testing.assert_array_equal(load_image(tmp_path / "p.png"), [[[255, 0, 0], [0, 0, 255]]])
    Image.fromarray(np.array([[65535, 25700]], np.uint16)).save(tmp_path / "d.png")
    np.testing.assert_array_equal(load_image(tmp_path / "d.png"), [[[255] * 3, [100] * 3]])


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :10] = 255  # a white band on the left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(pixels).save(tmp_path / "r.png", exif=exif)
    out = load_image(tmp_path / "r.png")
    assert out.shape == (40, 20, 3)
    assert out[:10].min() == 255 and out[10:].max() == 0  # the band is now on top


def test_unreadable_inputs_raise_input_errors(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="does not exist"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(InputError, match="is a directory"):
        load_image(tmp_path)
    (tmp_path / "notes.jpg").write_text("not an image")
    for check in (load_image, check_image_file):
        with pytest.raises(InputError, match="not an image"):
            check(tmp_path / "notes.jpg")
    Image.fromarray(np.full((64, 64, 3), 7, np.uint8)).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="corrupt or truncated"):
        load_image(tmp_path / "cut.png")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Image, "open", denied)
    with pytest.raises(InputError, match="permission denied"):
        load_image(tmp_path / "whole.png")
