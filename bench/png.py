"""A tiny PNG writer (zlib and struct only) and the two charts the benchmark draws.

No plotting library is installed with the product, and bars and lines need none: the charts are
drawn into an RGB pixel buffer and written as an 8-bit truecolour PNG.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

Colour = tuple[int, int, int]
WHITE: Colour = (255, 255, 255)
BLACK: Colour = (0, 0, 0)
GREY: Colour = (200, 200, 200)
PALETTE: tuple[Colour, ...] = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189))


class Canvas:
    """An RGB image to draw rectangles and lines on.

    Args:
        width: pixels across.
        height: pixels down.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(WHITE * (width * height))

    def dot(self, x: int, y: int, colour: Colour) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            at = 3 * (y * self.width + x)
            self.pixels[at : at + 3] = bytes(colour)

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: Colour) -> None:
        """Fill the rectangle with corners (x0, y0) and (x1, y1), both included."""
        for y in range(max(0, min(y0, y1)), min(self.height, max(y0, y1) + 1)):
            for x in range(max(0, min(x0, x1)), min(self.width, max(x0, x1) + 1)):
                self.dot(x, y, colour)

    def line(self, x0: int, y0: int, x1: int, y1: int, colour: Colour, width: int = 2) -> None:
        """A straight line (Bresenham), ``width`` pixels thick."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        error = dx + dy
        while True:
            self.rect(x0, y0, x0 + width - 1, y0 + width - 1, colour)
            if x0 == x1 and y0 == y1:
                return
            double = 2 * error
            if double >= dy:
                error += dy
                x0 += sx
            if double <= dx:
                error += dx
                y0 += sy

    def png(self) -> bytes:
        """The image as PNG bytes."""
        stride = 3 * self.width
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b"")
        )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _frame(canvas: Canvas, left: int, top: int, right: int, bottom: int) -> None:
    for fraction in (0.25, 0.5, 0.75):
        y = bottom - int((bottom - top) * fraction)
        canvas.line(left, y, right, y, GREY, 1)
    canvas.line(left, top, left, bottom, BLACK, 1)
    canvas.line(left, bottom, right, bottom, BLACK, 1)


def bars(canvas: Canvas, box: tuple[int, int, int, int], values: Sequence[float]) -> None:
    """Bars of ``values`` side by side in ``box`` (left, top, right, bottom), scaled to the max."""
    left, top, right, bottom = box
    _frame(canvas, left, top, right, bottom)
    if not values:
        return
    highest = max(max(values), 1e-9)
    slot = (right - left) / len(values)
    for i, value in enumerate(values):
        x0 = left + int(i * slot + slot * 0.15)
        x1 = left + int((i + 1) * slot - slot * 0.15)
        y = bottom - int((bottom - top) * value / highest)
        canvas.rect(x0, y, x1, bottom - 1, PALETTE[i % len(PALETTE)])


def lines(
    canvas: Canvas,
    box: tuple[int, int, int, int],
    series: Sequence[Sequence[tuple[float, float]]],
) -> None:
    """Each series as a line of points in ``box``, each scaled to its own largest value."""
    left, top, right, bottom = box
    _frame(canvas, left, top, right, bottom)
    for n, points in enumerate(series):
        if len(points) < 2:
            continue
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        x_max, y_max = max(max(xs), 1e-9), max(max(ys), 1e-9)
        scaled = [
            (left + int((right - left) * x / x_max), bottom - int((bottom - top) * y / y_max))
            for x, y in points
        ]
        for (x0, y0), (x1, y1) in itertools.pairwise(scaled):
            canvas.line(x0, y0, x1, y1, PALETTE[n % len(PALETTE)])


def write_chart(
    path: Path,
    bar_values: Sequence[float],
    line_series: Sequence[Sequence[tuple[float, float]]],
) -> None:
    """Two panels: bars on the left (e.g. calls per scenario), lines on the right (growth)."""
    canvas = Canvas(800, 320)
    bars(canvas, (30, 20, 380, 300), bar_values)
    lines(canvas, (420, 20, 770, 300), line_series)
    path.write_bytes(canvas.png())
