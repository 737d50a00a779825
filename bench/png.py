"""A tiny PNG writer (zlib and struct only) and the two charts the benchmark draws.

No plotting library is installed with the product, and bars and lines need none: the charts are
drawn into an RGB pixel buffer and written as an 8-bit truecolour PNG.
"""

from __future__ import annotations

import itertools
import math
import statistics
import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

Colour = tuple[int, int, int]
WHITE: Colour = (255, 255, 255)
BLACK: Colour = (0, 0, 0)
GREY: Colour = (200, 200, 200)
GREY_TEXT: Colour = (90, 90, 90)
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


#: A 3×5 pixel font: each glyph is five rows of three bits, top row first.
GLYPHS: dict[str, str] = {
    "0": "111101101101111",
    "1": "010110010010111",
    "2": "111001111100111",
    "3": "111001111001111",
    "4": "101101111001001",
    "5": "111100111001111",
    "6": "111100111101111",
    "7": "111001001010010",
    "8": "111101111101111",
    "9": "111101111001111",
    "A": "010101111101101",
    "B": "110101110101110",
    "C": "011100100100011",
    "D": "110101101101110",
    "E": "111100110100111",
    "F": "111100110100100",
    "G": "011100101101011",
    "H": "101101111101101",
    "I": "111010010010111",
    "J": "001001001101010",
    "K": "101101110101101",
    "L": "100100100100111",
    "M": "101111111101101",
    "N": "110101101101101",
    "O": "010101101101010",
    "P": "110101110100100",
    "Q": "010101101110011",
    "R": "110101110101101",
    "S": "011100010001110",
    "T": "111010010010010",
    "U": "101101101101111",
    "V": "101101101101010",
    "W": "101101111111101",
    "X": "101101010101101",
    "Y": "101101010010010",
    "Z": "111001010100111",
    " ": "000000000000000",
    ".": "000000000000010",
    "-": "000000111000000",
    ">": "100010001010100",
    "<": "001010100010001",
    "%": "101001010100101",
    ":": "000010000010000",
    "/": "001001010100100",
    "(": "010100100100010",
    ")": "010001001001010",
    "=": "000111000111000",
    ",": "000000000010100",
}
#: Characters drawn as another: arrows and comparisons of the figure names.
SUBSTITUTES = {"→": ">", "≤": "<", "≥": ">", "×": "X", "÷": "/"}


def text(canvas: Canvas, x: int, y: int, words: str, colour: Colour = BLACK, scale: int = 2) -> int:
    """Write ``words`` (upper-cased; unknown characters as blanks) with its top left at (x, y);
    returns the x after the last character."""
    for char in words.upper():
        glyph = GLYPHS.get(SUBSTITUTES.get(char, char), GLYPHS[" "])
        for row in range(5):
            for column in range(3):
                if glyph[3 * row + column] == "1":
                    left, top = x + column * scale, y + row * scale
                    canvas.rect(left, top, left + scale - 1, top + scale - 1, colour)
        x += 4 * scale
    return x


def _step(span: float) -> float:
    """A round tick step dividing ``span`` into about four."""
    raw = max(span / 4, 1e-9)
    power = 10.0 ** math.floor(math.log10(raw))
    return next(float(m * power) for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _seconds(value: float) -> str:
    return f"{value:g}"


def distribution(
    canvas: Canvas,
    box: tuple[int, int, int, int],
    title: str,
    values: Sequence[float],
    mark: float | None,
) -> None:
    """The cumulative distribution of ``values`` (seconds) in ``box``: a step line from 0 to
    100 %, guides at 50 % and 95 %, and ``mark`` (a target) as a red vertical line."""
    left, top, right, bottom = box
    text(canvas, left, top - 34, title)
    ordered = sorted(values)
    if ordered:
        p50 = statistics.median(ordered)
        p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
        summary = f"N {len(ordered)}  P50 {p50:.1f}S  P95 {p95:.1f}S  MAX {ordered[-1]:.1f}S"
        text(canvas, left, top - 18, summary, GREY_TEXT)
    highest = max([*ordered, mark or 0.0, 1e-9])
    step = _step(highest)
    x_max = step * math.ceil(highest * 1.05 / step)

    def x_of(seconds: float) -> int:
        return left + int((right - left) * seconds / x_max)

    def y_of(fraction: float) -> int:
        return bottom - int((bottom - top) * fraction)

    for fraction, label in ((0.5, "50%"), (0.95, "95%"), (1.0, "")):
        canvas.line(left, y_of(fraction), right, y_of(fraction), GREY, 1)
        text(canvas, left - 4 - 8 * len(label), y_of(fraction) - 4, label)
    canvas.line(left, top, left, bottom, BLACK, 1)
    canvas.line(left, bottom, right, bottom, BLACK, 1)
    tick = 0.0
    while tick <= x_max + 1e-9:
        canvas.line(x_of(tick), bottom, x_of(tick), bottom + 4, BLACK, 1)
        label = _seconds(round(tick, 6))
        text(canvas, x_of(tick) - 4 * len(label), bottom + 8, label)
        tick += step
    text(canvas, right - 8 * 7, bottom + 22, "SECONDS")
    if mark is not None:
        canvas.line(x_of(mark), top, x_of(mark), bottom, PALETTE[1], 2)
        label = f"TARGET {_seconds(mark)}S"
        x = x_of(mark) + 5
        if x + 8 * len(label) > right:
            x = x_of(mark) - 3 - 8 * len(label)
        text(canvas, x, top + (bottom - top) // 4, label, PALETTE[1])
    previous = (left, bottom)
    for i, seconds in enumerate(ordered, start=1):
        x = x_of(seconds)
        canvas.line(previous[0], previous[1], x, previous[1], PALETTE[0])
        canvas.line(x, previous[1], x, y_of(i / len(ordered)), PALETTE[0])
        previous = (x, y_of(i / len(ordered)))


def scatter(
    canvas: Canvas,
    box: tuple[int, int, int, int],
    title: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
) -> None:
    """Each named list of (x, y) points as dots of its own colour, on shared axes from 0."""
    left, top, right, bottom = box
    text(canvas, left, top - 34, title)
    x = left
    for n, name in enumerate(series):
        x = text(canvas, x, top - 18, name, PALETTE[n % len(PALETTE)]) + 16
    points = [p for values in series.values() for p in values]
    x_step = _step(max([x for x, _ in points] + [1e-9]))
    y_step = _step(max([y for _, y in points] + [1e-9]))
    x_max = x_step * max(1, math.ceil(max([x for x, _ in points] + [1e-9]) / x_step))
    y_max = y_step * max(1, math.ceil(max([y for _, y in points] + [1e-9]) / y_step))
    canvas.line(left, top, left, bottom, BLACK, 1)
    canvas.line(left, bottom, right, bottom, BLACK, 1)
    tick = 0.0
    while tick <= x_max + 1e-9:
        at = left + int((right - left) * tick / x_max)
        canvas.line(at, bottom, at, bottom + 4, BLACK, 1)
        label = _seconds(round(tick, 6))
        text(canvas, at - 4 * len(label), bottom + 8, label)
        tick += x_step
    tick = y_step
    while tick <= y_max + 1e-9:
        at = bottom - int((bottom - top) * tick / y_max)
        canvas.line(left, at, right, at, GREY, 1)
        label = _seconds(round(tick, 6))
        text(canvas, left - 4 - 8 * len(label), at - 4, label)
        tick += y_step
    for n, values in enumerate(series.values()):
        colour = PALETTE[n % len(PALETTE)]
        for px, py in values:
            cx = left + int((right - left) * px / x_max)
            cy = bottom - int((bottom - top) * py / y_max)
            canvas.rect(cx - 2, cy - 2, cx + 2, cy + 2, colour)


def write_distributions(
    path: Path,
    samples: Mapping[str, Sequence[float]],
    marks: Mapping[str, float],
    points: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    points_title: str = "",
) -> None:
    """One cumulative-distribution panel per named list of seconds, side by side, and a last
    panel with ``points`` as dots when there are any."""
    width, height = 440, 340
    panels = len(samples) + (1 if points else 0)
    canvas = Canvas(width * max(1, panels), height)
    for i, (name, values) in enumerate(samples.items()):
        x = i * width
        box = (x + 48, 60, x + width - 24, height - 50)
        distribution(canvas, box, name, values, marks.get(name))
    if points:
        x = len(samples) * width
        scatter(canvas, (x + 48, 60, x + width - 24, height - 50), points_title, points)
    path.write_bytes(canvas.png())
