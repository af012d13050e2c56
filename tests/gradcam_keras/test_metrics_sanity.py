"""The model-randomisation sanity check: cascade order, the untouched original, Spearman's rho."""

import numpy as np
import pytest
import scipy.stats

from gradcam_keras.cam import GradCAM
from gradcam_keras.methods import EigenCAM, image_maps
from gradcam_keras.metrics import (
    cascading_randomization,
    randomization_sanity_check,
    rank_correlation,
)

ORDER = ["head", "bn", "backbone/c2", "backbone/c1"]  # weighted layers, output first


def _images(n=3):
    return np.random.default_rng(0).normal(size=(n, 12, 10, 3)).astype(np.float32)


def _weights_by_layer(model):
    backbone = model.get_layer("backbone")
    found = {name: model.get_layer(name) for name in ("head", "bn")}
    found.update({f"backbone/{n}": backbone.get_layer(n) for n in ("c1", "c2")})
    return {path: [w.copy() for w in layer.get_weights()] for path, layer in found.items()}


def test_cascade_goes_from_the_top_down_on_a_copy(nested_bn_model):
    model = nested_bn_model()
    original = _weights_by_layer(model)
    steps = []
    for path, copy in cascading_randomization(model, seed=3):
        assert copy is not model
        now = _weights_by_layer(copy)
        done = ORDER[:ORDER.index(path) + 1]
        for layer_path, weights in now.items():
            same = all(np.array_equal(a, b) for a, b in zip(weights, original[layer_path]))
            assert same == (layer_path not in done), (path, layer_path)
        steps.append(path)
    assert steps == ORDER
    now = _weights_by_layer(copy)
    assert np.all(now["head"][1] == 0)          # bias_initializer "zeros"
    assert np.all(now["bn"][3] == 1)            # moving_variance_initializer "ones"
    for path, weights in _weights_by_layer(model).items():  # the caller's model is untouched
        for a, b in zip(weights, original[path]):
            np.testing.assert_array_equal(a, b)


def test_same_seed_same_weights(nested_bn_model):
    weights = []
    for seed in (7, 7, 8):
        *_, (path, copy) = cascading_randomization(nested_bn_model(), seed=seed)
        weights.append(copy.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(weights[0], weights[1]))
    assert not all(np.array_equal(a, b) for a, b in zip(weights[0], weights[2]))


def _spearman_by_hand(a, b):
    ra, rb = scipy.stats.rankdata(a.ravel()), scipy.stats.rankdata(b.ravel())
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float(ra @ rb / np.sqrt((ra @ ra) * (rb @ rb)))


def test_rank_correlation_by_hand():
    assert rank_correlation(np.array([1, 2, 3]), np.array([10, 30, 20])) == pytest.approx(0.5)
    # Ties: ranks (1.5, 1.5, 3) and (1, 2, 3): 1.5 / sqrt(1.5 * 2).
    assert rank_correlation(np.array([1, 1, 2]), np.array([1, 2, 3])) == pytest.approx(
        1.5 / np.sqrt(3.0))
    assert rank_correlation(np.zeros(5), np.arange(5)) == 0.0  # a blank map ranks nothing


def test_gradcam_correlations_match_a_reference_built_from_the_cascade(nested_bn_model):
    model, x = nested_bn_model(), _images()
    classes = [int(c) for c in np.argmax(model.predict(x, verbose=0), axis=1)]
    original = image_maps(GradCAM(model, "backbone/c2"), x, classes)
    expected = []
    for path, copy in cascading_randomization(model, seed=11):
        maps = image_maps(GradCAM(copy, "backbone/c2"), x, classes)
        rhos = [_spearman_by_hand(a, b) if np.ptp(a) and np.ptp(b) else 0.0
                for a, b in zip(original, maps)]
        expected.append((path, np.mean(rhos)))
    got = randomization_sanity_check("gradcam", model, x, layer="backbone/c2", seed=11)
    assert [p for p, _ in got] == [p for p, _ in expected] == ORDER
    np.testing.assert_allclose([r for _, r in got], [r for _, r in expected], rtol=1e-6)
    assert got[-1][1] < 0.9  # every weight redrawn: the maps are not the original ones


def test_a_map_that_ignores_the_layers_above_keeps_rho_one_there(nested_bn_model):
    # Eigen-CAM at backbone/c2 reads only c1 and c2: randomising head and bn changes nothing.
    model, x = nested_bn_model(), _images()
    got = dict(randomization_sanity_check(EigenCAM, model, x, layer="backbone/c2",
                                          per_image=True))
    np.testing.assert_allclose(got["head"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(got["bn"], 1.0, rtol=1e-6)
    assert np.all(got["backbone/c2"] < 0.99)


def test_bad_method_is_explained(nested_bn_model):
    with pytest.raises(ValueError, match="unknown CAM method 'gradkam'"):
        randomization_sanity_check("gradkam", nested_bn_model(), _images())
    with pytest.raises(ValueError, match="must be a BaseCAM subclass"):
        randomization_sanity_check(len, nested_bn_model(), _images())
