"""Metrics that say whether a map is right: localisation, faithfulness, and a sanity check.

- ``localization_error``, ``pointing_game``: does the map find the object (known boxes)?
  Helpers ``map_box`` and ``box_iou``.
- ``deletion_auc``, ``insertion_auc``, ``average_drop``, ``increase_in_confidence``: does the
  map show what the model uses (perturb the image, re-score it)?
- ``randomization_sanity_check``: does the map depend on the model's weights at all?

Every metric takes maps at the image's resolution (``gradcam_keras.methods.image_maps``) and
returns one number for the data set (a fraction in ``[0, 1]`` for all but the sanity check),
or with ``per_image=True`` the per-image values whose mean it is.

Example:
    >>> from gradcam_keras import GradCAM, demo, metrics
    >>> from gradcam_keras.methods import image_maps
    >>> model = demo.load_demo_model()                  # the bundled shapes CNN
    >>> batch = demo.shapes.generate(8, seed=1234)      # images with their true boxes
    >>> images = demo.preprocess(batch.images)
    >>> maps = image_maps(GradCAM(model), images, batch.labels)
    >>> metrics.pointing_game(maps, batch.boxes)
    1.0
"""

from gradcam_keras.metrics.faithfulness import (
    average_drop,
    deletion_auc,
    increase_in_confidence,
    insertion_auc,
)
from gradcam_keras.metrics.localization import box_iou, localization_error, map_box, pointing_game
from gradcam_keras.metrics.sanity import (
    cascading_randomization,
    randomization_sanity_check,
    rank_correlation,
)

__all__ = ["average_drop", "box_iou", "cascading_randomization", "deletion_auc",
           "increase_in_confidence", "insertion_auc", "localization_error", "map_box",
           "pointing_game", "randomization_sanity_check", "rank_correlation"]
