"""Parameterised solid shapes, evaluated on arrays of body-frame coordinates (mm).

Every shape answers two questions: its bounding box (so that the renderer only visits a crop of the
grid) and which points lie inside it. Points come as three arrays ``x, y, z`` of one shape (a grid crop
or a list of points), in the patient's body frame: x to the patient's right, y anterior, z superior.
Organs are ellipsoids, superellipsoids and tubes whose surfaces are bent by a few smooth sine modes
(:class:`Wobble`), so that each patient's organ has its own smooth, irregular outline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Box = tuple[np.ndarray, np.ndarray]


def rotation_matrix(degrees_xyz: np.ndarray | tuple[float, float, float]) -> np.ndarray:
    """Rotation about x, then y, then z (degrees), as one 3x3 matrix ``Rz @ Ry @ Rx``."""
    ax, ay, az = np.deg2rad(np.asarray(degrees_xyz, float))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass
class Wobble:
    """A smooth random bend of a surface: ``sum_k a_k sin(w_k . u + phase_k)`` on normalised coordinates."""

    waves: np.ndarray  # (k, 3) wave vectors, radians per unit of normalised coordinate
    amplitudes: np.ndarray  # (k,)
    phases: np.ndarray  # (k,)

    @classmethod
    def random(
        cls, rng: np.random.Generator, amplitude: float, modes: int = 3, frequency: float = 2.0
    ) -> Wobble:
        waves = rng.normal(size=(modes, 3))
        waves *= frequency * rng.uniform(0.7, 1.3, (modes, 1)) / np.linalg.norm(waves, axis=1, keepdims=True)
        return cls(
            waves, amplitude * rng.uniform(0.5, 1.0, modes) / np.sqrt(modes), rng.uniform(0, 2 * np.pi, modes)
        )

    @property
    def bound(self) -> float:
        return float(np.abs(self.amplitudes).sum())

    def __call__(self, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        out = np.zeros(np.shape(u), np.float32)
        for (a, b, c), amp, ph in zip(self.waves, self.amplitudes, self.phases):
            out += amp * np.sin(a * u + b * v + c * w + ph)
        return out


class Shape:
    """A solid in the body frame."""

    def bounds(self) -> Box:
        raise NotImplementedError

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@dataclass
class Ellipsoid(Shape):
    """``sum |local_i / r_i|^p < 1 + wobble``; ``local = R^T (p - centre)``. ``p=2`` is an ellipsoid,
    larger ``p`` a box-like superellipsoid."""

    centre: np.ndarray
    radii: np.ndarray
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    power: float = 2.0
    wobble: Wobble | None = None

    def __post_init__(self) -> None:
        self.centre = np.asarray(self.centre, float)
        self.radii = np.asarray(self.radii, float)

    def bounds(self) -> Box:
        grow = 1.0 + (self.wobble.bound if self.wobble else 0.0)
        half = np.abs(self.rotation) @ (self.radii * grow ** (1 / min(self.power, 2.0)) * 1.05)
        return self.centre - half, self.centre + half

    def normalised(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, ...]:
        dx, dy, dz = x - self.centre[0], y - self.centre[1], z - self.centre[2]
        r = self.rotation
        return tuple((r[0, k] * dx + r[1, k] * dy + r[2, k] * dz) / self.radii[k] for k in range(3))

    def level(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The implicit function: below 1 inside."""
        u, v, w = self.normalised(x, y, z)
        if self.power == 2.0:
            f = u * u + v * v + w * w
        else:
            f = np.abs(u) ** self.power + np.abs(v) ** self.power + np.abs(w) ** self.power
        if self.wobble is not None:
            f = f - self.wobble(u, v, w)
        return f

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return self.level(x, y, z) < 1.0

    def scaled(self, factor: float) -> Ellipsoid:
        return Ellipsoid(self.centre, self.radii * factor, self.rotation, self.power, self.wobble)


@dataclass
class ZTube(Shape):
    """A solid along z whose cross-section is a rounded rectangle-like ellipse centred at (x(z), y(z))
    with radii (rx(z), ry(z)); all four are piecewise linear through knots at ``z`` (increasing).

    The outline is ``r^2 (1 - squareness cos^2 t sin^2 t) < 1`` (``r, t`` the polar form of the normalised
    offsets ``u, v``): an ellipse at 0, boxier towards 1 (the diagonal reaches ``1 / sqrt(1 - s / 4)``).
    ``bulge = (a, phase)`` makes the outline three-lobed, ``r^2 (1 - 2 a cos(3 t + phase))``, i.e. about
    ``a`` of relative ripple in the radius, computed without trigonometry on the crop.
    """

    z: np.ndarray
    x: np.ndarray
    y: np.ndarray
    rx: np.ndarray
    ry: np.ndarray
    squareness: float = 0.0
    bulge: tuple[float, float] | None = None

    #: Sampling step (mm) of the lookup tables that replace interpolation on large crops.
    TABLE_STEP = 0.5

    def __post_init__(self) -> None:
        for name in ("z", "x", "y", "rx", "ry"):
            setattr(
                self, name, np.broadcast_to(np.asarray(getattr(self, name), float), np.shape(self.z)).copy()
            )
        zt = np.arange(self.z[0], self.z[-1] + self.TABLE_STEP, self.TABLE_STEP)
        self._tables = np.stack(
            [np.interp(zt, self.z, k) for k in (self.x, self.y, self.rx, self.ry)]
        ).astype(np.float32)

    def bounds(self) -> Box:
        grow = 1.0 / np.sqrt(1.0 - 2.0 * abs(self.bulge[0])) if self.bulge is not None else 1.0
        grow /= np.sqrt(1 - self.squareness / 4)  # the diagonal reaches further on a boxy outline
        lo = np.array([(self.x - self.rx * grow).min(), (self.y - self.ry * grow).min(), self.z[0]])
        hi = np.array([(self.x + self.rx * grow).max(), (self.y + self.ry * grow).max(), self.z[-1]])
        return lo, hi

    def section(self, z: np.ndarray) -> tuple[np.ndarray, ...]:
        """Centre x, y and radii at heights ``z`` (clamped to the knots' range)."""
        n = self._tables.shape[1]
        k = np.clip(
            ((z - np.float32(self.z[0])) * np.float32(1 / self.TABLE_STEP) + 0.5).astype(np.int32), 0, n - 1
        )
        return tuple(t[k] for t in self._tables)

    def level(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        cx, cy, rx, ry = self.section(z)
        u, v = (x - cx) / rx, (y - cy) / ry
        uu, vv = u * u, v * v
        f = uu + vv
        if self.squareness:
            f -= np.float32(self.squareness) * uu * vv / (f + np.float32(1e-9))
        if (
            self.bulge is not None
        ):  # r^3 cos(3t + phase) = cos(phase) u (u^2 - 3v^2) - sin(phase) v (3u^2 - v^2)
            a, phase = self.bulge
            ca, sa = np.float32(2 * a * np.cos(phase)), np.float32(2 * a * np.sin(phase))
            cubic = ca * u * (uu - 3 * vv) - sa * v * (3 * uu - vv)
            f = f - cubic / np.sqrt(uu + vv + np.float32(1e-9))
        return f

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return (self.level(x, y, z) < 1.0) & (z >= self.z[0]) & (z <= self.z[-1])

    def shrunk(
        self,
        by_mm: np.ndarray | float,
        by_y_mm: np.ndarray | float | None = None,
        dy_mm: np.ndarray | float = 0.0,
    ) -> ZTube:
        """The same tube with radii reduced by ``by_mm`` (x) and ``by_y_mm`` (y), centre moved by ``dy_mm``."""
        by_y = by_mm if by_y_mm is None else by_y_mm
        return ZTube(
            self.z,
            self.x,
            self.y + dy_mm,
            np.maximum(self.rx - by_mm, 1.0),
            np.maximum(self.ry - by_y, 1.0),
            self.squareness,
            self.bulge,
        )


@dataclass
class Capsules(Shape):
    """Tubes along a polyline through ``points`` (n, 3) with radius varying linearly between ``radii``."""

    points: np.ndarray
    radii: np.ndarray

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, float)
        self.radii = np.broadcast_to(np.asarray(self.radii, float), (len(self.points),)).copy()

    def bounds(self) -> Box:
        r = self.radii[:, None]
        return (self.points - r).min(axis=0), (self.points + r).max(axis=0)

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        out = np.zeros(np.shape(x), bool)
        for a, b, ra, rb in zip(self.points[:-1], self.points[1:], self.radii[:-1], self.radii[1:]):
            d = b - a
            length2 = float(d @ d)
            px, py, pz = x - a[0], y - a[1], z - a[2]
            t = np.clip((px * d[0] + py * d[1] + pz * d[2]) / length2, 0.0, 1.0)
            qx, qy, qz = px - t * d[0], py - t * d[1], pz - t * d[2]
            r = ra + t * (rb - ra)
            out |= qx * qx + qy * qy + qz * qz < r * r
        return out


@dataclass
class Intersection(Shape):
    """Points inside every shape; the box is where all the shapes' boxes overlap."""

    shapes: list[Shape]

    def bounds(self) -> Box:
        boxes = [s.bounds() for s in self.shapes]
        return np.max([b[0] for b in boxes], axis=0), np.min([b[1] for b in boxes], axis=0)

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        out = self.shapes[0].inside(x, y, z)
        for s in self.shapes[1:]:  # later shapes only where the earlier ones hold: put the smallest first
            out[out] = s.inside(x[out], y[out], z[out])
        return out


@dataclass
class Difference(Shape):
    """Points inside ``keep`` and outside ``cut``."""

    keep: Shape
    cut: Shape

    def bounds(self) -> Box:
        return self.keep.bounds()

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        out = self.keep.inside(x, y, z)
        out[out] = ~self.cut.inside(x[out], y[out], z[out])
        return out


@dataclass
class Union(Shape):
    shapes: list[Shape]

    def bounds(self) -> Box:
        boxes = [s.bounds() for s in self.shapes]
        return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        out = np.zeros(np.shape(x), bool)
        for s in self.shapes:
            out |= s.inside(x, y, z)
        return out


@dataclass
class HalfSpace(Shape):
    """``normal . p > offset`` (bounded by a large box so it can be intersected with anything)."""

    normal: np.ndarray
    offset: float

    def bounds(self) -> Box:
        return np.full(3, -1e4), np.full(3, 1e4)

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        n = self.normal
        return n[0] * x + n[1] * y + n[2] * z > self.offset


@dataclass
class AboveDome(Shape):
    """Above a diaphragm-like dome: ``z > top - (dx / wx)^2 - (dy / wy)^2`` around (x0, y0)."""

    x0: float
    y0: float
    top: float
    wx: float
    wy: float

    def bounds(self) -> Box:
        return np.full(3, -1e4), np.full(3, 1e4)

    def height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.top - ((x - self.x0) / self.wx) ** 2 - ((y - self.y0) / self.wy) ** 2

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return z > self.height(x, y)


def fibonacci_sphere(n: int) -> np.ndarray:
    """``n`` nearly evenly spread unit vectors (n, 3)."""
    k = np.arange(n) + 0.5
    polar = np.arccos(1 - 2 * k / n)
    azimuth = np.pi * (1 + 5**0.5) * k
    return np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], axis=1)
