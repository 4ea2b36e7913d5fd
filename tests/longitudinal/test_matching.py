"""Lesion assignment: overlap before distance, global (Hungarian) optimum, gate, splits and merges."""

import numpy as np
import pytest

from fapiseg.longitudinal.matching import assign_lesions, gates_mm, overlap_share

FAR = 1e3


def test_overlap_beats_a_closer_centroid():
    overlap = np.array([[0.2, 0.0]])
    distance = np.array([[8.0, 1.0]])
    result = assign_lesions(overlap, distance, np.full((1, 2), 20.0))
    assert [(m.track, m.lesion, m.by) for m in result.matches] == [(0, 0, "overlap")]
    assert result.new == [1] and not result.fragments


def test_the_assignment_is_the_global_optimum_not_greedy():
    # Greedy would give track 0 its nearest lesion (1) and leave track 1 without a partner in its gate.
    distance = np.array([[5.0, 4.0], [FAR, 6.0]])
    result = assign_lesions(np.zeros((2, 2)), distance, np.full((2, 2), 10.0))
    assert sorted((m.track, m.lesion) for m in result.matches) == [(0, 0), (1, 1)]
    assert all(m.by == "distance" for m in result.matches)


def test_beyond_the_gate_a_lesion_is_new_and_the_track_absent():
    result = assign_lesions(np.zeros((1, 1)), np.array([[25.0]]), np.array([[20.0]]))
    assert result.matches == [] and result.new == [0] and result.absent == [0]


def test_a_split_lesion_keeps_its_track_on_every_fragment():
    overlap = np.array([[0.9, 0.6], [0.0, 0.0]])
    result = assign_lesions(overlap, np.full((2, 2), FAR), np.full((2, 2), 10.0))
    assert [(m.track, m.lesion) for m in result.matches] == [(0, 0)]
    assert result.fragments == {1: 0} and result.absent == [1]
    assert result.track_of() == {0: 0, 1: 0}


def test_coalesced_lesions_merge_into_one_track():
    overlap = np.array([[0.7], [0.9]])
    result = assign_lesions(overlap, np.full((2, 1), FAR), np.full((2, 1), 10.0))
    assert [(m.track, m.lesion) for m in result.matches] == [(1, 0)]
    assert result.merged == {0: 0} and result.absent == []


def test_empty_sides():
    result = assign_lesions(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 2)))
    assert result.new == [0, 1]
    result = assign_lesions(np.zeros((2, 0)), np.zeros((2, 0)), np.zeros((2, 0)))
    assert result.absent == [0, 1]


def test_overlap_share_and_gates():
    share = overlap_share(np.array([[5, 0]]), np.array([10]), np.array([20, 0]))
    assert share.tolist() == [[0.5, 0.0]]
    radius_of_4_19_ml = 10.0  # (4/3) pi 10^3 mm^3 = 4.19 mL
    gate = gates_mm(np.array([4.18879]), np.array([0.5]), 10.0)
    assert gate[0, 0] == pytest.approx(10.0 + radius_of_4_19_ml, abs=1e-4)
