"""ODE-Net / RK-Net / ResNet on digits: sizes, layers, data pipeline and short training runs."""

import re

import numpy as np
import pytest
import tensorflow as tf

from ode_keras.examples import _mnist_data, _mnist_models, odenet_mnist
from ode_keras.examples._common import count_parameters


def _conv(k_in, k_out, size, bias=True):
    return k_in * k_out * size * size + (k_out if bias else 0)


def _expected_parameter_counts():
    """Parameter counts of torchdiffeq's architecture, from its layer shapes."""
    norm = 2 * 64  # GroupNorm: scale and offset per channel
    stem = _conv(1, 64, 3) + norm + _conv(64, 64, 4) + norm + _conv(64, 64, 4)
    head = norm + 64 * 10 + 10
    ode_block = 3 * norm + 2 * _conv(65, 64, 3)  # 64 channels + the time channel
    res_blocks = 6 * (2 * norm + 2 * _conv(64, 64, 3, bias=False))
    return {"odenet": stem + ode_block + head, "rknet": stem + ode_block + head,
            "resnet": stem + res_blocks + head}


@pytest.mark.parametrize("network", ["odenet", "rknet", "resnet"])
def test_parameter_counts_match_the_pytorch_architecture(network):
    model = _mnist_models.build_classifier(network)
    expected = _expected_parameter_counts()[network]
    assert expected == {"resnet": 576_778}.get(network, 208_266)  # the anchor's numbers
    assert count_parameters(model) == expected
    assert model.output_shape == (None, 10)


def test_odenet_uses_the_adjoint_and_rknet_backpropagates_through_the_solver():
    for network, adjoint in (("odenet", True), ("rknet", False)):
        config = _mnist_models.build_classifier(network).get_layer("ode_block").get_config()
        assert config["adjoint"] is adjoint and config["method"] == "dopri5"
        assert config["rtol"] == config["atol"] == 1e-3


def test_learning_rate_steps_keep_the_originals_fractions_of_the_run():
    args = odenet_mnist.build_parser().parse_args(["--nepochs", "16", "--batch_size", "64"])
    schedule = odenet_mnist.learning_rate(args, steps_per_epoch=10)
    lr = 0.1 * 64 / 128
    # The original: x0.1 at epochs 60, 100 and 140 of 160; here steps 60, 100, 140 of 160.
    for step, expected in ((0, lr), (59, lr), (61, lr / 10), (101, lr / 100), (150, lr / 1000)):
        assert float(schedule(step)) == pytest.approx(expected)


def test_stem_downsamples_28_to_6_like_pytorch_padding():
    stem = tf.keras.Sequential(_mnist_models.downsampling_layers(64))
    assert stem(tf.zeros([2, 28, 28, 1])).shape == (2, 6, 6, 64)


def test_concat_conv_adds_the_time_through_the_kernel_of_its_extra_channel():
    layer = _mnist_models.ConcatConv2d(8)
    x = tf.random.normal([2, 7, 7, 5])
    at_zero = layer(tf.constant(0.0), x)
    at_t = layer(tf.constant(0.7), x)
    kernel = layer.conv.kernel.numpy()  # [3, 3, 1 + 5, 8]; channel 0 is the time
    interior = (at_t - at_zero).numpy()[:, 1:-1, 1:-1, :]
    np.testing.assert_allclose(interior, np.broadcast_to(0.7 * kernel[:, :, 0, :].sum((0, 1)),
                                                         interior.shape), rtol=1e-4, atol=1e-5)
    # At a corner the zero padding hides five of the nine taps.
    np.testing.assert_allclose((at_t - at_zero).numpy()[0, 0, 0],
                               0.7 * kernel[1:, 1:, 0, :].sum((0, 1)), rtol=1e-4, atol=1e-5)


def test_residual_block_is_the_identity_when_its_last_convolution_is_zero():
    block = _mnist_models.ResBlock(64)
    x = tf.random.normal([2, 6, 6, 64])
    block(x)
    block.conv2.kernel.assign(tf.zeros_like(block.conv2.kernel))
    np.testing.assert_array_equal(block(x).numpy(), x.numpy())


def test_unknown_network_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="odenet.*received network='vgg'"):
        _mnist_models.build_classifier("vgg")


def test_upscaled_digits_look_like_mnist():
    x_train, y_train, x_test, y_test = _mnist_data.load_upscaled_digits()
    assert x_train.shape == (1437, 28, 28, 1) and x_test.shape == (360, 28, 28, 1)
    assert x_train.dtype == np.float32 and x_train.min() >= 0.0 and x_train.max() <= 1.0
    assert np.all(x_train[:, :4] == 0) and np.all(x_train[:, :, -4:] == 0)  # the 20x20 box
    assert np.bincount(y_test).min() >= 35  # stratified: every class is in the test set
    np.testing.assert_array_equal(_mnist_data.load_upscaled_digits()[1], y_train)


def test_random_crop_shifts_each_image_by_at_most_the_padding():
    rng = np.random.default_rng(0)
    images = np.zeros((50, 28, 28, 1), np.float32)
    images[:, 4:24, 4:24] = rng.random((50, 20, 20, 1))
    crops = _mnist_data.random_crop(images, rng, padding=4)
    shifts = set()
    for image, crop in zip(images, crops):
        padded = np.pad(image, ((4, 4), (4, 4), (0, 0)))
        matches = [(dy, dx) for dy in range(9) for dx in range(9)
                   if np.array_equal(padded[dy:dy + 28, dx:dx + 28], crop)]
        assert len(matches) == 1
        shifts.add(matches[0])
    assert len(shifts) > 25  # offsets vary from image to image
    np.testing.assert_allclose(crops.sum((1, 2, 3)), images.sum((1, 2, 3)), rtol=1e-5)


def test_auto_falls_back_to_digits_when_mnist_cannot_be_loaded(monkeypatch, capsys):
    def offline(timeout=10.0):
        raise OSError("MNIST could not be loaded: no network")

    monkeypatch.setattr(_mnist_data, "load_mnist", offline)
    name, x_train, *_ = _mnist_data.load_dataset("auto")
    assert name == "digits" and x_train.shape[1:] == (28, 28, 1)
    assert "Falling back" in capsys.readouterr().out
    with pytest.raises(OSError, match="no network"):
        _mnist_data.load_dataset("mnist")
    with pytest.raises(ValueError, match="one of"):
        _mnist_data.load_dataset("cifar")


EPOCH_LINE = (r"Epoch (\d+) \| Time [\d.]+ \| NFE-F ([\d.]+) \| NFE-B ([\d.]+) \| "
              r"Loss ([\d.]+) \| Train Acc ([\d.]+) \| Test Acc ([\d.]+)")


def _tiny_run(network, tmp_path, capsys, nepochs):
    # One fixed batch of 32 images, a constant learning rate: the loss must fall at once.
    argv = ["--network", network, "--dataset", "digits", "--train_subset", "32",
            "--test_subset", "32", "--batch_size", "32", "--nepochs", str(nepochs), "--lr", "0.4",
            "--no-data_aug", "--no-lr_decay", "--viz", str(tmp_path)]
    assert odenet_mnist.main(argv) == 0
    out = capsys.readouterr().out
    assert "Data: digits, 32 training and 32 test images" in out
    epochs = [[float(v) for v in line] for line in re.findall(EPOCH_LINE, out)]
    assert [int(e[0]) for e in epochs] == list(range(1, nepochs + 1))
    assert (tmp_path / f"odenet_mnist_{network}.png").stat().st_size > 10_000
    return out, epochs


@pytest.mark.slow
def test_resnet_short_training_lowers_the_loss(tmp_path, capsys):
    out, epochs = _tiny_run("resnet", tmp_path, capsys, nepochs=3)
    assert "Network: resnet, 576,778 parameters" in out
    assert epochs[-1][3] < 0.95 * epochs[0][3]
    assert all(e[1] == 0 and e[2] == 0 for e in epochs)  # no solver, no evaluations


@pytest.mark.slow
def test_odenet_short_training_counts_evaluations_and_lowers_the_loss(tmp_path, capsys):
    out, epochs = _tiny_run("odenet", tmp_path, capsys, nepochs=2)
    assert "Network: odenet, 208,266 parameters" in out
    assert epochs[-1][3] < 0.95 * epochs[0][3]
    # dopri5 takes at least one step of six evaluations per solve, forwards and backwards.
    assert all(e[1] >= 6 and e[2] >= 6 for e in epochs)
