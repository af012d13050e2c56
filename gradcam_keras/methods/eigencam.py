"""Eigen-CAM: the feature maps projected on their first principal component, no gradients."""

import tensorflow as tf

from gradcam_keras.cam import BaseCAM


class EigenCAM(BaseCAM):
    """Eigen-CAM: ``L = ReLU(A v_1)`` with ``v_1`` the first right singular vector of ``A``.

    Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal Components", IJCNN
    2020. Each image's feature maps, reshaped to a matrix ``A`` of ``h*w`` locations by ``K``
    channels, are projected on the direction ``v_1`` that carries most of their energy
    (``A = U S V^T``). The method is class-agnostic: ``class_index`` only decides which score
    is reported, and no backward pass runs.

    Centring: ``A`` is not centred (as in the paper). pytorch-grad-cam subtracts each channel's
    mean first, which makes the projection sum to zero over the image.

    Sign: an SVD fixes ``v_1`` only up to its sign, and a flipped ``v_1`` turns the map into its
    negative (the ReLU would then keep the background). The sign is chosen so that the entry of
    largest magnitude of the projection ``A v_1`` is positive (scikit-learn's ``svd_flip``
    convention on ``u_1 = A v_1 / s_1``): the map shows where the component is strongest, and
    the same features with all signs flipped give the same map. For non-negative activations
    (after a ReLU) the Perron-Frobenius theorem makes the chosen ``v_1`` non-negative, so
    ``A v_1 >= 0`` everywhere and the ReLU removes nothing. Arguments are those of ``BaseCAM``.

    Example:
        >>> EigenCAM(model, "conv2")(images).shape
        (4, 16, 20)
    """

    uses_gradients = False

    def channel_weights(self, activations, grads, *, images, classes):
        """Return ``v_1`` with its sign fixed as documented, ``[batch, channels]``."""
        del grads, images, classes
        shape = tf.shape(activations)
        matrix = tf.reshape(activations, (shape[0], shape[1] * shape[2], shape[3]))
        _, _, right = tf.linalg.svd(matrix, full_matrices=False)
        first = right[:, :, 0]
        projection = tf.einsum("blk,bk->bl", matrix, first)
        strongest = tf.gather(projection, tf.argmax(tf.abs(projection), axis=1), batch_dims=1)
        return first * tf.where(strongest < 0, -1.0, 1.0)[:, None]
