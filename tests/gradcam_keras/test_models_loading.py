"""Model loading offline, weights errors, preprocessing modes and the shipped ImageNet names."""

import hashlib
import importlib.resources
import inspect
import re

import keras
import numpy as np
import pytest

from gradcam_keras import InputError, models


def test_class_index_is_the_file_keras_downloads():
    # decode_predictions checks this file's MD5; read the expected hash from Keras itself.
    source = inspect.getsource(keras.src.applications.imagenet_utils.decode_predictions)
    keras_hash = re.search(r'file_hash="([0-9a-f]{32})"', source).group(1)
    data = (importlib.resources.files("gradcam_keras") / "data" / "imagenet_class_index.json")
    assert hashlib.md5(data.read_bytes()).hexdigest() == keras_hash


def test_imagenet_names_in_keras_order():
    index = models.imagenet_class_index()
    names = models.imagenet_class_names()
    assert len(names) == 1000 and sorted(index, key=int) == [str(i) for i in range(1000)]
    assert index["0"] == ["n01440764", "tench"] and names[242] == "boxer"  # 243 in Lua/Caffe
    wnids = [index[str(i)][0] for i in range(1000)]
    assert wnids == sorted(set(wnids))  # Keras's classes are the synsets in sorted order


def test_top_predictions_are_sorted_with_softmax_probabilities():
    logits = np.array([1.0, 3.0, 2.0, -1.0])
    top = models.top_predictions(logits, ["a", "b", "c", "d"], k=3)
    assert [t["name"] for t in top] == ["b", "c", "a"]
    probs = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose([t["probability"] for t in top], probs[[1, 2, 0]])


def test_missing_imagenet_weights_say_where_keras_caches_them(tmp_path, monkeypatch, offline):
    monkeypatch.setattr(models, "keras_home", lambda: str(tmp_path))
    monkeypatch.setattr(models, "cached_weights", lambda name: None)
    with pytest.raises(InputError) as info:
        models.load_model("vgg19")
    message = str(info.value)
    assert str(tmp_path / "models" / "vgg19_weights_tf_dim_ordering_tf_kernels.h5") in message
    assert "could not be downloaded" in message and "network is switched off" in message
    assert "--weights PATH" in message and "\n" not in message
    # Keras itself tried to fetch the file (its URL is in the message).
    assert offline and "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels.h5:" in message


def test_a_cached_file_keras_cannot_use_is_reported(tmp_path, monkeypatch, offline):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels.h5").write_bytes(b"junk")
    monkeypatch.setattr(models, "keras_home", lambda: str(tmp_path))
    with pytest.raises(InputError, match="in Keras's cache .* could not be loaded.*replace"):
        models.load_model("vgg16")


@pytest.mark.slow
def test_registry_names_the_files_keras_requests(offline):
    for name, (constructor, _, _, filename) in models.CLASSIFIERS.items():
        with pytest.raises(Exception, match=re.escape(f"/{filename}: ")):  # Keras's fetch error
            getattr(keras.applications, constructor)(weights="imagenet")
        assert offline, name


def test_model_files_and_fitting_weights_load(tmp_path, seeded_small_model):
    seeded_small_model(seed=0).save(tmp_path / "m.keras")
    donor = seeded_small_model(seed=1)
    donor.save_weights(tmp_path / "w.weights.h5")
    loaded = models.load_model(str(tmp_path / "m.keras"), weights=str(tmp_path / "w.weights.h5"))
    assert loaded.input_size == (12, 12) and loaded.preprocess_input is None
    for mine, theirs in zip(loaded.model.get_weights(), donor.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_weights_that_do_not_fit_are_reported(tmp_path, seeded_small_model):
    seeded_small_model().save(tmp_path / "m.keras")
    seeded_small_model(width=6).save_weights(tmp_path / "other.weights.h5")
    with pytest.raises(InputError, match="does not fit model m.keras"):
        models.load_model(str(tmp_path / "m.keras"), weights=str(tmp_path / "other.weights.h5"))
    with pytest.raises(InputError, match="does not exist"):
        models.load_model("vgg19", weights=str(tmp_path / "none.h5"))


def test_unknown_models_and_bad_files_are_reported(tmp_path):
    with pytest.raises(InputError, match="unknown model 'vgg20'.*vgg19"):
        models.load_model("vgg20")
    (tmp_path / "bad.keras").write_text("nope")
    with pytest.raises(InputError, match="cannot load model file"):
        models.load_model(str(tmp_path / "bad.keras"))


def test_preprocessing_modes():
    x = np.array([[[[0.0, 127.5, 255.0]]]], np.float32)
    np.testing.assert_allclose(models.preprocess_function("tf")(x.copy()), [[[[-1, 0, 1]]]])
    np.testing.assert_allclose(models.preprocess_function("unit")(x.copy()),
                               [[[[0, 0.5, 1]]]])
    caffe = models.preprocess_function("caffe")(x.copy())  # BGR, ImageNet means removed
    np.testing.assert_allclose(caffe, [[[[255 - 103.939, 127.5 - 116.779, 0 - 123.68]]]],
                               rtol=1e-6)
    assert models.preprocess_function("none") is None
    with pytest.raises(InputError, match="'imagenet': an unknown name; expected one of caffe"):
        models.preprocess_function("imagenet")


def test_class_names_files(tmp_path):
    (tmp_path / "l.json").write_text('["cat", "dog"]')
    (tmp_path / "k.json").write_text('{"0": ["n1", "cat"], "1": ["n2", "dog"]}')
    (tmp_path / "t.txt").write_text("cat\ndog\n")
    for name in ("l.json", "k.json", "t.txt"):
        assert models.class_names_for(2, str(tmp_path / name)) == ["cat", "dog"]
    with pytest.raises(InputError, match="has 2 names, the model scores 3"):
        models.class_names_for(3, str(tmp_path / "t.txt"))
    assert models.class_names_for(1000)[242] == "boxer"
    assert models.class_names_for(2) == ["class_0", "class_1"]
