"""The chart of ``/sellapp stats`` as a PNG, written with the standard library. Pure.

Two panels, one column a day (oldest left): on top, tickets opened (blue) and closed
(green) side by side; below, the median first response of the tickets opened that day
(orange). Each panel is scaled to its own highest value, which the answer states; light
lines mark quarters. No text is drawn (no font to ship): the answer's words carry it.

Why not matplotlib: two bar panels need rectangles and a PNG encoder (zlib + CRC, both in
the standard library, ~60 lines); matplotlib would add tens of megabytes (and numpy) to
the image for that.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Final

from bot.stats.compute import Stats
from bot.stats.report import duration

__all__ = ["HEIGHT", "WIDTH", "chart_png", "png", "scale_words"]

WIDTH: Final = 720
HEIGHT: Final = 360
MARGIN: Final = 16
GAP: Final = 24
BACKGROUND: Final = (255, 255, 255)
GRID: Final = (228, 230, 235)
AXIS: Final = (140, 144, 150)
OPENED: Final = (88, 101, 242)
CLOSED: Final = (59, 165, 93)
RESPONSE: Final = (250, 166, 26)

Colour = tuple[int, int, int]


class Canvas:
    def __init__(self, width: int, height: int, fill: Colour) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(fill) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: Colour) -> None:
        """Fill ``[x0, x1) x [y0, y1)``, clipped to the canvas."""
        x0, x1 = max(0, x0), min(self.width, x1)
        y0, y1 = max(0, y0), min(self.height, y1)
        if x0 >= x1:
            return
        row = bytes(colour) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + len(row)] = row

    def rows(self) -> Sequence[bytes]:
        stride = self.width * 3
        return [bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height)]


def png(canvas: Canvas) -> bytes:
    """``canvas`` as an 8-bit RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", canvas.width, canvas.height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in canvas.rows())
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _panel(
    canvas: Canvas,
    top: int,
    bottom: int,
    series: Sequence[tuple[Colour, Sequence[float]]],
) -> None:
    left, right = MARGIN, canvas.width - MARGIN
    height = bottom - top
    for quarter in range(5):
        y = bottom - round(height * quarter / 4)
        canvas.rect(left, y, right, y + 1, GRID if quarter else AXIS)
    highest = max((v for _, values in series for v in values), default=0.0)
    if highest <= 0:
        return
    days = max(len(values) for _, values in series)
    slot = (right - left) / days
    bar = max(1.0, slot * 0.8 / len(series))
    for index in range(days):
        x = left + index * slot + slot * 0.1
        for position, (colour, values) in enumerate(series):
            value = values[index] if index < len(values) else 0.0
            tall = round(height * value / highest)
            x0 = round(x + position * bar)
            canvas.rect(x0, bottom - tall, max(x0 + 1, round(x0 + bar)), bottom, colour)


def chart_png(stats: Stats) -> bytes:
    canvas = Canvas(WIDTH, HEIGHT, BACKGROUND)
    middle = HEIGHT // 2
    opened = [float(d.opened) for d in stats.per_day]
    closed = [float(d.closed) for d in stats.per_day]
    response = [d.first_response_median or 0.0 for d in stats.per_day]
    _panel(canvas, MARGIN, middle - GAP // 2, [(OPENED, opened), (CLOSED, closed)])
    _panel(canvas, middle + GAP // 2, HEIGHT - MARGIN, [(RESPONSE, response)])
    return png(canvas)


def scale_words(stats: Stats) -> str:
    """What the chart's two panels are scaled to, for the answer."""
    most = max((max(d.opened, d.closed) for d in stats.per_day), default=0)
    slowest = max((d.first_response_median or 0.0 for d in stats.per_day), default=0.0)
    return (
        f"-# Chart: top, tickets opened (blue) and closed (green) per day, full height = "
        f"{most}; bottom, median first response per day (orange), full height = "
        f"{duration(slowest) if slowest else '—'}."
    )
