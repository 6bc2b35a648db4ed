"""Fewer points for a chart without losing its spikes: min and max per time bucket.

A 24-hour window at a 5-second period is 17,280 points a series; the browser
needs about 1,000. Averaging would flatten the one spike ops are looking for,
so each bucket keeps its lowest and its highest point instead (the envelope).
"""
from __future__ import annotations

from typing import Sequence

Point = tuple[float, float]


def downsample(points: Sequence[Point], max_points: int = 1000) -> list[Point]:
    """Return at most max_points of the points, keeping each time bucket's minimum and maximum."""
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    if len(points) <= max_points:
        return list(points)
    if max_points == 1:
        return [max(points, key=lambda point: point[1])]
    return [point for bucket in _buckets(points, max_points // 2) for point in _envelope(bucket)]


def _buckets(points: Sequence[Point], count: int) -> list[list[Point]]:
    """Split the points into `count` buckets of equal time width (empty buckets dropped)."""
    start = min(point[0] for point in points)
    span = max(point[0] for point in points) - start
    buckets: list[list[Point]] = [[] for _ in range(count)]
    for point in points:
        index = int((point[0] - start) / span * count) if span > 0 else 0
        buckets[min(index, count - 1)].append(point)
    return [bucket for bucket in buckets if bucket]


def _envelope(bucket: list[Point]) -> list[Point]:
    """Return the bucket's lowest and highest points in time order (one when they are equal)."""
    low = min(bucket, key=lambda point: point[1])
    high = max(bucket, key=lambda point: point[1])
    if low[1] == high[1]:
        return [high]
    return sorted((low, high), key=lambda point: point[0])
