"""Deletion/insertion AUC, Average Drop and Increase in Confidence on a model solved by hand.

The model sees a 1x4 image: logit_0 = a . x with a = (2, 1, 0, -1) and logit_1 = 0, so
p_0(x) = sigmoid(a . x). Every curve below is written out pixel by pixel.
"""

import keras
import numpy as np
import pytest
from keras import layers

from gradcam_keras.metrics import (
    average_drop,
    deletion_auc,
    increase_in_confidence,
    insertion_auc,
)
from gradcam_keras.metrics.faithfulness import make_baseline, perturbation_path, trapezoid_auc

A = np.array([2.0, 1.0, 0.0, -1.0])


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _model(head="softmax"):
    model = keras.Sequential([keras.Input((1, 4, 1)), layers.Flatten(),
                              layers.Dense(2, activation=head)])
    model.layers[-1].set_weights([np.stack([A, np.zeros(4)], axis=1).astype(np.float32),
                                  np.zeros(2, np.float32)])
    return model


ONES = np.ones((1, 1, 4, 1), np.float32)
SALIENCY = np.array([[[0.9, 0.5, 0.1, 0.7]]], np.float32)  # order: pixels 0, 3, 1, 2


@pytest.mark.parametrize("head", ["softmax", None])  # probabilities given, or from logits
def test_deletion_curve_by_hand(head):
    # a . x after deleting pixels 0, 3, 1, 2 in turn (zeros baseline): 2, 0, 1, 0, 0.
    curve = _sigmoid(np.array([2.0, 0.0, 1.0, 0.0, 0.0]))
    expected = (curve[0] / 2 + curve[1] + curve[2] + curve[3] + curve[4] / 2) / 4
    got = deletion_auc(_model(head), ONES, SALIENCY, steps=4)
    assert got == pytest.approx(expected, rel=1e-6)


def test_insertion_curve_by_hand():
    # From zeros, inserting pixels 0, 3, 1, 2: a . x = 0, 2, 1, 2, 2.
    curve = _sigmoid(np.array([0.0, 2.0, 1.0, 2.0, 2.0]))
    expected = (curve[0] / 2 + curve[1:4].sum() + curve[4] / 2) / 4
    got = insertion_auc(_model(), ONES, SALIENCY, class_index=0, steps=4, baseline="zeros")
    assert got == pytest.approx(expected, rel=1e-6)
    # Explaining class 1 instead: p_1 = 1 - p_0 along the same path.
    other = insertion_auc(_model(), ONES, SALIENCY, class_index=1, steps=4, baseline=0.0)
    assert other == pytest.approx(1.0 - expected, rel=1e-6)


def test_steps_that_do_not_divide_the_pixels_and_the_trapezoid():
    # 4 pixels in 3 steps: floor(i * 4 / 3) = 0, 1, 2, 4 pixels taken.
    path = perturbation_path(np.zeros((1, 4, 1)), np.ones((1, 4, 1)), SALIENCY[0], 3)
    np.testing.assert_array_equal(path[..., 0, :, 0], [[0, 0, 0, 0], [1, 0, 0, 0],
                                                        [1, 0, 0, 1], [1, 1, 1, 1]])
    assert trapezoid_auc([0.0, 1.0]) == 0.5
    assert trapezoid_auc([1.0, 0.5, 0.0]) == 0.5
    assert trapezoid_auc([0.2, 0.2, 0.2, 0.2]) == pytest.approx(0.2)


def test_blur_baseline_is_the_rise_11_tap_gaussian_with_sigma_5():
    image = np.random.default_rng(0).normal(size=(1, 9, 13, 2)).astype(np.float32)
    taps = np.exp(-np.arange(-5, 6) ** 2 / (2 * 25.0))
    taps /= taps.sum()

    def blur_axis(x, axis):
        padded = np.pad(x, [(5, 5) if a == axis else (0, 0) for a in range(x.ndim)], mode="edge")
        length = x.shape[axis]
        return sum(w * np.take(padded, np.arange(i, i + length), axis=axis)
                   for i, w in enumerate(taps))

    expected = blur_axis(blur_axis(image.astype(np.float64), 1), 2)
    np.testing.assert_allclose(make_baseline(image, "blur"), expected, rtol=1e-5, atol=1e-6)


def test_average_drop_and_increase_in_confidence_by_hand():
    images = np.ones((2, 1, 4, 1), np.float32)
    maps = np.array([[[2.0, 1.0, 0.0, 0.0]], [[0.0, 0.0, 3.0, 3.0]]], np.float32)
    # Y = sigmoid(2) for both (top class 0). E_1 = (1, .5, 0, 0): a . E = 2.5, confidence up.
    # E_2 = (0, 0, 1, 1): a . E = -1, drop (sigmoid(2) - sigmoid(-1)) / sigmoid(2).
    drop = (_sigmoid(2.0) - _sigmoid(-1.0)) / _sigmoid(2.0)
    np.testing.assert_allclose(average_drop(_model(), images, maps, per_image=True), [0, drop],
                               rtol=1e-5, atol=1e-7)
    assert average_drop(_model(None), images, maps) == pytest.approx(drop / 2, rel=1e-5)
    np.testing.assert_array_equal(increase_in_confidence(_model(), images, maps, per_image=True),
                                  [1, 0])
    assert increase_in_confidence(_model(), images, maps) == 0.5


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match=r"`maps` must be \[n, H, W\] = \(1, 1, 4\).*upsample"):
        deletion_auc(_model(), ONES, np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="`steps` must be a positive int"):
        deletion_auc(_model(), ONES, SALIENCY, steps=0)
    with pytest.raises(ValueError, match="`baseline` must be 'zeros', 'blur'"):
        insertion_auc(_model(), ONES, SALIENCY, baseline="black")
    with pytest.raises(ValueError, match="does not broadcast"):
        insertion_auc(_model(), ONES, SALIENCY, baseline=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="out of range"):
        average_drop(_model(), ONES, SALIENCY, class_index=2)
