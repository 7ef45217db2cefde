"""The dashboard's charts as shapes for an inline SVG: computed here, drawn by ``operations/chart.html``.

Server-side SVG needs no JavaScript and no chart library, and passes the CSP (presentation attributes, no
inline styles). Every chart is a picture with a one-sentence summary for screen readers; the page puts the
figures behind it in a table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

# GOV.UK Frontend 6 colours. Each meets 3:1 against white (WCAG 1.4.11) and the pairs shown together differ in
# lightness as well as hue.
BLUE = "#1d70b8"
DARK_BLUE = "#0f385c"
GREEN = "#0f7a52"
RED = "#ca3535"
PURPLE = "#54319f"
GREY = "#484949"
TEXT = "#0b0c0c"
RULE = "#cecece"
TRACK = "#f3f3f3"

WIDTH = 900
LABEL_WIDTH = 260  # room for a service's or a company's name on horizontal charts
ROW_HEIGHT = 40


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    colour: str


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "start"
    colour: str = TEXT
    bold: bool = False


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    colour: str = RULE


@dataclass
class Chart:
    """An SVG picture: its size, shapes, and the sentence a screen reader announces for it."""

    id: str
    title: str
    summary: str
    height: float
    width: float = WIDTH
    rects: list[Rect] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)

    def legend(self, items: Sequence[tuple[str, str]], y: float = 14) -> None:
        """Colour swatches with their names, left to right along the top."""
        x = 0.0
        for name, colour in items:
            self.rects.append(Rect(x, y - 11, 14, 14, colour))
            self.texts.append(Text(x + 20, y, name))
            x += 20 + 8.5 * len(name) + 28


@dataclass(frozen=True)
class Segment:
    """A part of a ``shares`` bar: its name in the legend, its colour, and a count of it in words (one, many)."""

    name: str
    colour: str
    one: str
    many: str

    def count(self, count: int) -> str:
        return counted(count, self.one, self.many)


def counted(count: int, one: str, many: str | None = None) -> str:
    """``count`` with the noun in the form it takes: "1 journey", "0 journeys", "2 accounts created"."""
    return f"{count:,} {one if count == 1 else many or one + 's'}"


def nice_step(largest: float, steps: int = 4) -> int:
    """A round tick step (1, 2 or 5 times a power of ten) so that about ``steps`` steps cover ``largest``."""
    if largest <= steps:
        return 1
    rough = largest / steps
    power = 10 ** math.floor(math.log10(rough))
    return int(next(m * power for m in (1, 2, 5, 10) if m * power >= rough))


def percent(part: int, whole: int) -> str:
    return "–" if whole <= 0 else f"{round(100 * part / whole)}%"


def bars_over_time(chart_id: str, title: str, groups: Sequence[tuple[str, int, int]], names: tuple[str, str]) -> Chart:
    """Two bars per time group (say, journeys started and completed), with a y axis and every few labels."""
    top, bottom, left = 40.0, 262.0, 56.0
    plot_width = WIDTH - left - 8
    largest = max((max(a, b) for _, a, b in groups), default=0)
    step = nice_step(largest)
    ceiling = step * max(1, math.ceil(largest / step))
    total_a, total_b = sum(g[1] for g in groups), sum(g[2] for g in groups)
    chart = Chart(
        chart_id,
        title,
        f"{title}: {total_a} {names[0].lower()} and {total_b} {names[1].lower()} in the period, "
        f"in {counted(len(groups), 'interval')}. The table after the chart has each interval's figures.",
        height=290,
    )
    chart.legend([(names[0], BLUE), (names[1], DARK_BLUE)])

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * value / ceiling

    for tick in range(0, ceiling + 1, step):
        chart.lines.append(Line(left, y_of(tick), WIDTH - 8, y_of(tick), RULE if tick else GREY))
        chart.texts.append(Text(left - 8, y_of(tick) + 5, f"{tick:,}", anchor="end"))
    slot = plot_width / max(1, len(groups))
    bar = min(slot * 0.36, 36)
    every = max(1, math.ceil(len(groups) / 12))
    for index, (label, a, b) in enumerate(groups):
        middle = left + slot * (index + 0.5)
        for value, x, colour in ((a, middle - bar - 1, BLUE), (b, middle + 1, DARK_BLUE)):
            if value:
                chart.rects.append(Rect(x, y_of(value), bar, bottom - y_of(value), colour))
        if index % every == 0:
            chart.texts.append(Text(middle, bottom + 22, label, anchor="middle"))
    return chart


def rates(chart_id: str, title: str, rows: Sequence[tuple[str, int, int]], noun: str) -> Chart:
    """One horizontal bar per row showing part / whole as a share of a full-width track."""
    track = WIDTH - LABEL_WIDTH - 150
    chart = Chart(chart_id, title, "", height=max(1, len(rows)) * ROW_HEIGHT + 4)
    sentences = []
    for index, (label, part, whole) in enumerate(rows):
        y = index * ROW_HEIGHT + 6
        chart.texts.append(Text(LABEL_WIDTH - 12, y + 20, label, anchor="end"))
        chart.rects.append(Rect(LABEL_WIDTH, y, track, 28, TRACK))
        if whole:
            chart.rects.append(Rect(LABEL_WIDTH, y, track * part / whole, 28, GREEN))
        value = f"{percent(part, whole)} ({part:,} of {whole:,})" if whole else f"no {noun}"
        chart.texts.append(Text(LABEL_WIDTH + track + 10, y + 20, value, bold=bool(whole)))
        sentences.append(f"{label}: {value}")
    chart.summary = f"{title}. " + "; ".join(sentences) + "." if rows else f"{title}: nothing yet."
    return chart


def shares(chart_id: str, title: str, rows: Sequence[tuple[str, Sequence[int]]], segments: Sequence[Segment]) -> Chart:
    """One full-width bar per row split into coloured segments (say matched, no match, error), with a legend."""
    track = WIDTH - LABEL_WIDTH - 150
    chart = Chart(chart_id, title, "", height=34 + max(1, len(rows)) * ROW_HEIGHT)
    chart.legend([(segment.name, segment.colour) for segment in segments])
    sentences = []
    for index, (label, counts) in enumerate(rows):
        y = 34 + index * ROW_HEIGHT
        total = sum(counts)
        chart.texts.append(Text(LABEL_WIDTH - 12, y + 20, label, anchor="end"))
        chart.rects.append(Rect(LABEL_WIDTH, y, track, 28, TRACK))
        x = float(LABEL_WIDTH)
        for count, segment in zip(counts, segments, strict=True):
            if count:
                width = track * count / total
                chart.rects.append(Rect(x, y, max(width - 2, 1), 28, segment.colour))  # a white gap between segments
                if width >= 8.5 * len(f"{count:,}") + 12:  # the count inside the segment, where it fits
                    chart.texts.append(Text(x + width / 2, y + 20, f"{count:,}", anchor="middle", colour="#ffffff"))
                x += width
        chart.texts.append(Text(LABEL_WIDTH + track + 10, y + 20, counted(total, "journey") if total else "none yet"))
        parts = ", ".join(segment.count(count) for count, segment in zip(counts, segments, strict=True))
        sentences.append(f"{label}: {parts}")
    chart.summary = f"{title}. " + "; ".join(sentences) + "." if rows else f"{title}: nothing yet."
    return chart


def funnel(chart_id: str, title: str, steps: Sequence[tuple[str, int]]) -> Chart:
    """A bar per step scaled to the first, with how many were lost since the step before."""
    track = WIDTH - LABEL_WIDTH - 230
    first = steps[0][1] if steps else 0
    chart = Chart(chart_id, title, "", height=len(steps) * ROW_HEIGHT + 4)
    sentences = []
    previous = None
    for index, (label, count) in enumerate(steps):
        y = index * ROW_HEIGHT + 6
        chart.texts.append(Text(LABEL_WIDTH - 12, y + 20, label, anchor="end"))
        chart.rects.append(Rect(LABEL_WIDTH, y, track, 28, TRACK))
        if count and first:
            chart.rects.append(Rect(LABEL_WIDTH, y, track * count / first, 28, BLUE))
        chart.texts.append(Text(LABEL_WIDTH + track + 10, y + 20, f"{count:,}", bold=True))
        sentence = f"{label}: {count:,}"
        if previous is not None:
            lost = previous - count
            lost_text = f"{lost:,} lost ({percent(lost, previous)})" if lost else "none lost"
            chart.texts.append(Text(LABEL_WIDTH + track + 70, y + 20, lost_text, colour=RED if lost else GREY))
            sentence += f", {lost_text}"
        sentences.append(sentence)
        previous = count
    chart.summary = f"{title}. " + "; ".join(sentences) + "."
    return chart
