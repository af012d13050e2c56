"""Train the bundled demo CNN on synthetic shapes: ``python -m gradcam_keras.demo.train``.

Recreates ``gradcam_keras/data/demo_cnn.keras`` (the defaults are the settings of the
shipped file). The data come from ``gradcam_keras.demo.shapes`` with seed pairs that no plain
int seed can produce: training shapes ``(seed, 1)``, held-out shapes ``(seed, 2)``,
object-free backgrounds ``(seed, 3)``. The backgrounds get a uniform target over the
classes, so clutter is evidence for no class and each class is learned from its shape
(without them the network learns one class, the star, as "none of the others", and
Grad-CAM for that class lights up the background).

The run is seeded (data, initial weights, shuffling). Rerun with the defaults on the
machine that made the shipped file (TensorFlow 2.21, 2 CPU cores), it reproduced the
weights bit for bit; other CPUs, thread counts or library versions may sum in another
order, so expect comparable accuracy and maps (99.6 % held-out accuracy, 99.5 % pointing
game), not identical bits. It costs about 8.5 CPU-minutes, data generation included:
some 4-5 minutes on two idle cores.
"""

import argparse
import pathlib
import sys
import time

import numpy as np

from gradcam_keras import demo
from gradcam_keras._atomic import atomic_write
from gradcam_keras.cli.parser import non_negative_int, positive_int
from gradcam_keras.demo import shapes

TRAIN_STREAM, VALIDATION_STREAM, BACKGROUND_STREAM = 1, 2, 3
DEFAULT_OUTPUT = pathlib.Path(__file__).resolve().parent.parent / "data" / demo.MODEL_FILE
NUM_CLASSES = len(demo.CLASS_NAMES)


def build_model(num_classes=NUM_CLASSES, image_size=demo.IMAGE_SIZE):
    """Return the demo architecture, untrained: 16x16 feature maps, GAP, dense logits.

    A stride-2 5x5 convolution and one max pooling bring 64x64 down to 16x16, where three
    3x3 convolutions see 35x35 pixels, enough for the largest shape (31 px across) while
    each of the 16x16 cells of ``DEMO_LAYER`` still covers only 4x4 pixels: fine enough for
    Grad-CAM to land inside the smallest shape's box (16 px). Batch normalisation speeds
    training up; the last convolution has none, so its ReLU output is what Grad-CAM weighs.

    Args:
        num_classes: number of logits.
        image_size: ``(height, width)`` of the input.

    Returns:
        keras.Model named ``"demo_cnn"`` (about 105k parameters, 0.4 MB as float32).

    Example:
        >>> build_model().get_layer(demo.DEMO_LAYER).output.shape
        (None, 16, 16, 64)
    """
    import keras
    from keras import layers

    def conv_bn_relu(x, filters, kernel, name, strides=1):
        x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                          name=name)(x)
        x = layers.BatchNormalization(name=name.replace("conv", "bn"))(x)
        return layers.ReLU(name=name.replace("conv", "relu"))(x)

    inputs = keras.Input((*image_size, 3), name="image")
    x = conv_bn_relu(inputs, 32, 5, "conv1", strides=2)
    x = conv_bn_relu(x, 32, 3, "conv2")
    x = layers.MaxPooling2D(name="pool2")(x)
    x = conv_bn_relu(x, 64, 3, "conv3")
    x = conv_bn_relu(x, 64, 3, "conv4")
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name=demo.DEMO_LAYER)(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="demo_cnn")


def training_data(seed, train_size, background_size):
    """Return shuffled training images and targets (one-hot shapes, uniform backgrounds).

    Args:
        seed: the run's seed.
        train_size: number of images with a shape.
        background_size: number of object-free images.

    Returns:
        ``(images uint8 [n, 64, 64, 3], targets float32 [n, classes])``.
    """
    objects = shapes.generate(train_size, (seed, TRAIN_STREAM), demo.IMAGE_SIZE)
    empty = shapes.backgrounds(background_size, (seed, BACKGROUND_STREAM), demo.IMAGE_SIZE)
    num_classes = len(demo.CLASS_NAMES)
    targets = np.concatenate([np.eye(num_classes)[objects.labels],
                              np.full((background_size, num_classes), 1 / num_classes)])
    images = np.concatenate([objects.images, empty])
    order = np.random.default_rng(seed).permutation(len(images))
    return images[order], targets[order].astype(np.float32)


def train(seed=0, epochs=7, train_size=10000, background_size=2500, batch_size=32,
          learning_rate=2e-3, validation=None, verbose=2):
    """Train a fresh demo model and return it.

    Args:
        seed: seeds the data, the initial weights and the shuffling.
        epochs: passes over the training images.
        train_size: images with a shape.
        background_size: object-free images with uniform targets.
        batch_size: images per step.
        learning_rate: peak of the schedule (10 % linear warm-up, then cosine decay to 0).
        validation: optional ``ShapesBatch`` scored after every epoch.
        verbose: Keras ``fit`` verbosity (2 prints one line per epoch).

    Returns:
        keras.Model: the trained model, compiled with its optimizer.
    """
    import keras

    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    images, targets = training_data(seed, train_size, background_size)
    if verbose:
        print(f"generated {train_size} shapes and {background_size} backgrounds in "
              f"{time.perf_counter() - start:.0f} s; training {epochs} epochs", flush=True)
    model = build_model()
    steps = epochs * -(-len(images) // batch_size)
    warmup = max(steps // 10, 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, steps - warmup, warmup_target=learning_rate, warmup_steps=warmup)
    model.compile(keras.optimizers.Adam(schedule),
                  keras.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    validation_data = None
    if validation is not None:
        one_hot = np.eye(len(demo.CLASS_NAMES), dtype=np.float32)[validation.labels]
        validation_data = (demo.preprocess(validation.images), one_hot)
    model.fit(demo.preprocess(images), targets, batch_size=batch_size, epochs=epochs,
              validation_data=validation_data, verbose=verbose)
    return model


def accuracy(model, batch):
    """Return the fraction of ``batch`` whose top logit is the true label."""
    logits = model.predict(demo.preprocess(batch.images), batch_size=256, verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == batch.labels))


def pointing_accuracy(model, batch, layer=demo.DEMO_LAYER):
    """Return the pointing-game accuracy of Grad-CAM for each image's true class.

    A hit is the maximum of the map, upsampled to the image with ``image.upsample``,
    falling inside the object's box (no tolerance).
    """
    from gradcam_keras.cam import GradCAM
    from gradcam_keras.image import upsample

    maps = GradCAM(model, layer)(demo.preprocess(batch.images),
                                class_index=[int(label) for label in batch.labels])
    hits = 0
    for cam_map, (x0, y0, x1, y1) in zip(maps, batch.boxes, strict=True):
        up = upsample(cam_map, batch.images.shape[1:3])
        row, col = np.unravel_index(np.argmax(up), up.shape)
        hits += bool(x0 <= col < x1 and y0 <= row < y1)
    return hits / len(batch)


def save_model(model, path):
    """Write the model's architecture and weights (no optimizer) atomically to ``path``."""
    import keras

    # Rebuilt from its config, the copy is not compiled: no optimizer state goes to disk
    # (clone_model would compile it and save Adam's two moments, tripling the file).
    clean = keras.Model.from_config(model.get_config())
    clean.set_weights(model.get_weights())
    atomic_write(path, clean.save)  # the temporary file keeps the .keras suffix Keras needs


def build_parser():
    """Return the argument parser of ``python -m gradcam_keras.demo.train``."""
    parser = argparse.ArgumentParser(prog="python -m gradcam_keras.demo.train",
                                     description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    parser.add_argument("--epochs", type=positive_int, default=7, help="default 7")
    parser.add_argument("--train-size", type=positive_int, default=10000,
                        help="training images with a shape (default 10000)")
    parser.add_argument("--background-size", type=non_negative_int, default=2500,
                        help="object-free training images, uniform targets (default 2500)")
    parser.add_argument("--validation-size", type=positive_int, default=2000,
                        help="held-out images scored each epoch and at the end (default 2000)")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="default 32")
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="default 0.002")
    parser.add_argument("--output", type=pathlib.Path, default=DEFAULT_OUTPUT,
                        help=f"where to write the model (default {DEFAULT_OUTPUT})")
    return parser


def main(argv=None):
    """Train, report held-out accuracy and pointing game, save; return the exit status."""
    args = build_parser().parse_args(argv)
    if args.output.suffix != ".keras" or not args.output.parent.is_dir():
        print(f"error: --output must be a .keras file in an existing directory, got "
              f"{args.output}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    print(f"seed {args.seed}: {args.validation_size} held-out images, then training data",
          flush=True)
    validation = shapes.generate(args.validation_size, (args.seed, VALIDATION_STREAM),
                                 demo.IMAGE_SIZE)
    model = train(args.seed, args.epochs, args.train_size, args.background_size,
                  args.batch_size, args.learning_rate, validation=validation)
    minutes = (time.perf_counter() - start) / 60
    print(f"held-out accuracy: {accuracy(model, validation):.4f} "
          f"({len(validation)} images, seed pair ({args.seed}, {VALIDATION_STREAM}))")
    print(f"pointing game (Grad-CAM at {demo.DEMO_LAYER}, true class): "
          f"{pointing_accuracy(model, validation):.4f}")
    save_model(model, args.output)
    print(f"saved {args.output} ({args.output.stat().st_size / 1e6:.2f} MB) after "
          f"{minutes:.1f} min of data generation and training")
    return 0


if __name__ == "__main__":
    sys.exit(main())
