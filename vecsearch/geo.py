"""Geo conditions as Qdrant defines them: radius, bounding box and polygon over ``{lon, lat}``.

* **Points** in a payload are objects ``{"lon": x, "lat": y}`` of finite JSON numbers (bools
  are not numbers); anything else at the path is no geo point and never matches. A list of
  such objects is several points (any one may match).
* **geo_radius** ``{"center": {lon, lat}, "radius": metres}``: the haversine distance on a
  sphere of radius 6,371,008.8 m (IUGG mean radius, Qdrant's and local mode's constant) is
  strictly below ``radius``.
* **geo_bounding_box** ``{"top_left", "bottom_right"}``: ``bottom.lat < lat < top.lat``
  and ``left.lon < lon < right.lon`` (all strict), or when ``left.lon > right.lon`` the box
  crosses the antimeridian: ``lon > left.lon or lon < right.lon``.
* **geo_polygon** ``{"exterior": {"points": [...]}, "interiors": [{"points": [...]}]}``:
  strictly inside the exterior ring and not inside or on any interior ring (a point on any
  ring's boundary is outside the polygon), by ray casting on (lat, lon) as plane
  coordinates, as Qdrant's local mode does.

Validation (400 naming the field): ``lat`` in [-90, 90], ``lon`` in [-180, 180] (Qdrant's
``GeoPoint`` bounds), every ring at least 4 points with the first equal to the last (Qdrant's
polygon rule). Deliberate deviation: a negative or NaN ``radius`` is refused (Qdrant would
run the condition and match nothing, which is always a caller's mistake).

Each shape evaluates one point (``contains``) or arrays of lat/lon at once
(``contains_arrays``, numpy, used by the geo payload index).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vecsearch.errors import FilterError

#: Mean earth radius in metres (IUGG), as Qdrant uses for haversine distances.
EARTH_RADIUS_M = 6371008.8


def _is_number(v: Any) -> bool:
    # (abs() <= the largest float: finite, and an int that float() does not overflow)
    return type(v) in (int, float) and abs(v) <= sys.float_info.max


def as_geo_point(value: Any) -> tuple[float, float] | None:
    """``(lat, lon)`` of a payload value that is a geo point, else ``None``."""
    if not isinstance(value, dict):
        return None
    lat, lon = value.get("lat"), value.get("lon")
    if _is_number(lat) and _is_number(lon):
        return float(lat), float(lon)
    return None


def distance(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres between two points, computed with the
    same float operations as Qdrant's local mode."""
    lon1, lat1, lon2, lat2 = map(math.radians, (lon1, lat1, lon2, lat2))
    a = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return EARTH_RADIUS_M * 2 * math.asin(math.sqrt(min(a, 1.0)))


def haversine(lat1: Any, lon1: Any, lat2: float, lon2: float) -> Any:
    """Great-circle distance in metres from numpy arrays of points to one point."""
    p1, p2 = np.radians(lat1), math.radians(lat2)
    dlat = p2 - p1
    dlon = math.radians(lon2) - np.radians(lon1)
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * math.cos(p2) * np.sin(dlon / 2) ** 2
    return EARTH_RADIUS_M * 2 * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


@dataclass(frozen=True)
class GeoRadius:
    """Points closer than ``radius`` metres to ``(lat, lon)``."""

    lat: float
    lon: float
    radius: float

    def contains(self, lat: float, lon: float) -> bool:
        """Whether one point is inside."""
        return distance(lat, lon, self.lat, self.lon) < self.radius

    def contains_arrays(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Mask of the points inside (NaN coordinates never are)."""
        with np.errstate(invalid="ignore"):
            return haversine(lat, lon, self.lat, self.lon) < self.radius


@dataclass(frozen=True)
class GeoBox:
    """Points strictly inside the box (which may cross the antimeridian)."""

    top: float
    left: float
    bottom: float
    right: float

    def contains(self, lat: float, lon: float) -> bool:
        """Whether one point is inside."""
        if self.left > self.right:
            lon_ok = lon > self.left or lon < self.right
        else:
            lon_ok = self.left < lon < self.right
        return lon_ok and self.top > lat > self.bottom

    def contains_arrays(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Mask of the points inside (NaN coordinates never are)."""
        if self.left > self.right:
            lon_ok = (lon > self.left) | (lon < self.right)
        else:
            lon_ok = (lon > self.left) & (lon < self.right)
        return lon_ok & (lat < self.top) & (lat > self.bottom)


@dataclass(frozen=True)
class GeoPolygon:
    """Points inside ``exterior`` and outside every ring of ``interiors``; rings are tuples
    of ``(lat, lon)`` vertices without the closing repeat."""

    exterior: tuple[tuple[float, float], ...]
    interiors: tuple[tuple[tuple[float, float], ...], ...] = ()

    def contains(self, lat: float, lon: float) -> bool:
        """Whether one point is inside."""
        m = self.contains_arrays(np.array([lat]), np.array([lon]))
        return bool(m[0])

    def contains_arrays(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Mask of the points inside (NaN coordinates never are)."""
        inside = _in_ring(lat, lon, self.exterior, boundary=False)
        for ring in self.interiors:
            if not inside.any():
                break
            inside &= ~_in_ring(lat, lon, ring, boundary=True)
        return inside


def _in_ring(
    x: np.ndarray, y: np.ndarray, ring: tuple[tuple[float, float], ...], *, boundary: bool
) -> np.ndarray:
    """Ray casting on plane coordinates ``x = lat``, ``y = lon`` (local mode's convention);
    points on an edge get ``boundary``."""
    inside = np.zeros(x.shape, dtype=bool)
    on_edge = np.zeros(x.shape, dtype=bool)
    n = len(ring)
    with np.errstate(invalid="ignore", divide="ignore"):
        for i in range(n):
            xi, yi = ring[i]
            xj, yj = ring[i - 1]
            on_edge |= (
                (y * (xi - xj) + yi * (xj - x) + yj * (x - xi) == 0)
                & ((xi - x) * (xj - x) <= 0)
                & ((yi - y) * (yj - y) <= 0)
            )
            if yi == yj:
                continue
            crosses = ((yi > y) != (yj > y)) & (x < (xj - xi) * (y - yi) / (yj - yi) + xi)
            inside ^= crosses
    return np.where(on_edge, boundary, inside)


GeoShape = GeoRadius | GeoBox | GeoPolygon


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _members(data: Any, field: str, required: set[str], optional: set[str] = frozenset()) -> None:
    if not isinstance(data, Mapping):
        raise FilterError(field, f"expected an object with {', '.join(sorted(required))}")
    unknown = set(data) - required - optional
    if unknown:
        raise FilterError(f"{field}.{sorted(unknown)[0]}", "unknown member")
    for name in sorted(required):
        if data.get(name) is None:
            raise FilterError(f"{field}.{name}", "missing")


def parse_point(data: Any, field: str) -> tuple[float, float]:
    """``(lat, lon)`` of a condition's ``{"lon", "lat"}`` object, checked."""
    _members(data, field, {"lon", "lat"})
    out = []
    for name, bound in (("lat", 90.0), ("lon", 180.0)):
        v = data[name]
        if not _is_number(v):
            raise FilterError(f"{field}.{name}", f"expected a finite number, got {v!r}")
        if not -bound <= v <= bound:
            raise FilterError(f"{field}.{name}", f"must be in [-{bound:g}, {bound:g}], got {v}")
        out.append(float(v))
    return out[0], out[1]


def parse_radius(data: Any, field: str) -> GeoRadius:
    """``geo_radius``: ``{"center": {lon, lat}, "radius": metres}``."""
    _members(data, field, {"center", "radius"})
    lat, lon = parse_point(data["center"], f"{field}.center")
    r = data["radius"]
    if not _is_number(r) or r < 0:
        raise FilterError(f"{field}.radius", f"expected a non-negative number of metres, got {r!r}")
    return GeoRadius(lat, lon, float(r))


def parse_box(data: Any, field: str) -> GeoBox:
    """``geo_bounding_box``: ``{"top_left": {lon, lat}, "bottom_right": {lon, lat}}``."""
    _members(data, field, {"top_left", "bottom_right"})
    top, left = parse_point(data["top_left"], f"{field}.top_left")
    bottom, right = parse_point(data["bottom_right"], f"{field}.bottom_right")
    return GeoBox(top, left, bottom, right)


def _ring(data: Any, field: str) -> tuple[tuple[float, float], ...]:
    _members(data, field, {"points"})
    pts = data["points"]
    if not isinstance(pts, list):
        raise FilterError(f"{field}.points", "expected a list of {lon, lat} points")
    ring = [parse_point(p, f"{field}.points[{i}]") for i, p in enumerate(pts)]
    if len(ring) < 4:
        raise FilterError(f"{field}.points", f"a ring needs at least 4 points, got {len(ring)}")
    if ring[0] != ring[-1]:
        raise FilterError(f"{field}.points", "the first and the last point must be the same")
    return tuple(ring[:-1])


def parse_polygon(data: Any, field: str) -> GeoPolygon:
    """``geo_polygon``: ``{"exterior": {"points": [...]}, "interiors": [{"points": [...]}]}``."""
    _members(data, field, {"exterior"}, {"interiors"})
    exterior = _ring(data["exterior"], f"{field}.exterior")
    raw = data.get("interiors")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise FilterError(f"{field}.interiors", "expected a list of rings")
    interiors = tuple(_ring(r, f"{field}.interiors[{i}]") for i, r in enumerate(raw))
    return GeoPolygon(exterior, interiors)
