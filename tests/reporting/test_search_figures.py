"""The Pareto front of (cost, accuracy): cheaper is better, more accurate is better."""

from automl.reporting.search_figures import pareto_front


def test_pareto_front_keeps_only_undominated_points():
    pts = [(100, 0.5), (100, 0.8), (300, 0.9), (200, 0.7), (50, 0.4), (300, 0.85), (400, 0.9)]
    assert pareto_front(pts) == [(50, 0.4), (100, 0.8), (300, 0.9)]
    assert pareto_front([]) == []
    assert pareto_front([(1, 0.5), (1, 0.5)]) == [(1, 0.5)]
