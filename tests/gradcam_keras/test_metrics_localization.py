"""Localisation metrics on maps and boxes small enough to work out by hand."""

import numpy as np
import pytest

from gradcam_keras.metrics import box_iou, localization_error, map_box, pointing_game


def test_map_box_takes_the_largest_segment_above_15_percent():
    heat = np.zeros((6, 8))
    heat[1:3, 1:4] = 10.0     # 6 pixels: the largest segment
    heat[4, 5:7] = 2.0        # 2 pixels above 1.5 (15% of 10): a smaller segment
    heat[5, 0] = 1.4          # below the threshold
    assert map_box(heat) == (1, 1, 4, 3)
    heat[4, 4:8] = 1.5        # exactly 15%: included, now 4 pixels + 2 = still below 6
    assert map_box(heat) == (1, 1, 4, 3)
    heat[3:6, 1] = 1.6        # joins the big segment (4-connected below (2, 1)): 9 pixels
    assert map_box(heat) == (1, 1, 4, 6)
    assert map_box(heat, threshold=0.5) == (1, 1, 4, 3)


def test_diagonal_neighbours_are_separate_segments():
    heat = np.zeros((4, 4))
    heat[0, 0] = heat[1, 1] = 1.0   # touch at a corner only: two 1-pixel segments
    heat[3, 2:4] = 0.5              # a 2-pixel segment wins
    assert map_box(heat) == (2, 3, 4, 4)


def test_map_without_positive_values_has_no_box():
    assert map_box(np.zeros((3, 3))) is None
    assert map_box(-np.ones((3, 3))) is None


@pytest.mark.parametrize("first, second, expected", [
    ((0, 0, 4, 4), (0, 0, 4, 4), 1.0),
    ((0, 0, 4, 4), (2, 2, 6, 6), 4 / 28),
    ((0, 0, 4, 4), (4, 0, 8, 4), 0.0),       # sharing an edge is no overlap (half-open)
    ((0, 0, 4, 4), (1, 1, 3, 3), 4 / 16),    # inside
    ((0, 0, 2, 2), (5, 5, 7, 9), 0.0),
])
def test_box_iou_by_hand(first, second, expected):
    assert box_iou(first, second) == pytest.approx(expected)
    assert box_iou(second, first) == pytest.approx(expected)


def _maps_for_boxes(boxes, size=(10, 10)):
    maps = np.zeros((len(boxes),) + size)
    for heat, (x0, y0, x1, y1) in zip(maps, boxes):
        heat[y0:y1, x0:x1] = 1.0
    return maps


def test_localization_error_counts_iou_below_one_half():
    truth = np.array([[0, 0, 4, 4], [0, 0, 4, 4], [0, 0, 4, 4], [2, 2, 8, 8]])
    predicted = [(0, 0, 4, 4),    # IoU 1
                 (0, 0, 4, 2),    # IoU 8/16 = 0.5 exactly: localised
                 (0, 0, 3, 2),    # IoU 6/16 < 0.5: missed
                 (2, 2, 8, 8)]
    maps = _maps_for_boxes(predicted)
    maps[3] = 0.0                 # no positive value: no box, an error
    np.testing.assert_array_equal(localization_error(maps, truth, per_image=True), [0, 0, 1, 1])
    assert localization_error(maps, truth) == 0.5
    assert localization_error(maps, truth, min_iou=0.3) == 0.25
    wrong_class = localization_error(maps, truth, correct_class=[True, False, True, True],
                                     per_image=True)
    np.testing.assert_array_equal(wrong_class, [0, 1, 1, 1])


def test_pointing_game_hits_misses_and_tolerance():
    boxes = np.array([[2, 2, 5, 5]] * 4)
    maps = np.zeros((4, 8, 10))
    maps[0, 3, 4] = 1.0       # inside
    maps[1, 3, 7] = 1.0       # column 7: 3 px right of column 4, the box's last column
    maps[2, 0, 0] = maps[2, 3, 3] = 1.0  # a tie: the first in raster order (0, 0) is outside
    maps[3] = 0.5             # constant: points nowhere
    np.testing.assert_array_equal(pointing_game(maps, boxes, per_image=True), [1, 0, 0, 0])
    assert pointing_game(maps, boxes) == 0.25
    np.testing.assert_array_equal(pointing_game(maps, boxes, tolerance=3, per_image=True),
                                  [1, 1, 1, 0])  # (0, 0) is sqrt(8) from the corner (2, 2)
    np.testing.assert_array_equal(pointing_game(maps, boxes, tolerance=2.9, per_image=True),
                                  [1, 0, 1, 0])
    masks = np.zeros((4, 8, 10), bool)
    masks[:, 3, 7] = True
    np.testing.assert_array_equal(pointing_game(maps, masks=masks, per_image=True),
                                  [0, 1, 0, 0])


def test_bad_arguments_are_explained():
    maps = np.zeros((2, 5, 5))
    with pytest.raises(ValueError, match=r"`boxes` must be \[n, 4\] ints"):
        localization_error(maps, np.zeros((3, 4), int))
    with pytest.raises(ValueError, match=r"`boxes` must be \[n, 4\] ints"):
        localization_error(maps, np.zeros((2, 4)))   # floats
    with pytest.raises(ValueError, match=r"`maps` must be \[n, H, W\].*maps\[None\]"):
        pointing_game(np.zeros((5, 5)), np.zeros((1, 4), int))
    with pytest.raises(ValueError, match="exactly one of them"):
        pointing_game(maps)
    with pytest.raises(ValueError, match="`masks` have shape"):
        pointing_game(maps, masks=np.zeros((2, 4, 4), bool))
    with pytest.raises(ValueError, match="`tolerance` must be >= 0"):
        pointing_game(maps, np.zeros((2, 4), int), tolerance=-1)
    with pytest.raises(ValueError, match="`correct_class` must hold one bool per map"):
        localization_error(maps, np.zeros((2, 4), int), correct_class=[True])
