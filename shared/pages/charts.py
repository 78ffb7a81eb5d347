"""Chart geometry, free of I/O: where each bar, line and tick of a page's SVG charts goes.
The templates (``templates/charts.html``) only draw what this computes, so the geometry is
tested without a browser and every page's charts look alike."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

# Horizontal bars: pillar names are long and read best on the left of their bar.
BAR_WIDTH = 720
BAR_LABEL_WIDTH = 260
BAR_CAPTION_WIDTH = 150
BAR_ROW = 30
BAR_THICKNESS = 18
AXIS_HEIGHT = 24


@dataclass(frozen=True)
class Bar:
    key: str  # what the bar stands for (a pillar's code or id), for tests and links
    label: str
    percent: float  # 0..100: the bar's length
    caption: str  # shown after the bar, e.g. "29 of 30 (96.7 %)"


@dataclass(frozen=True)
class PlacedBar:
    bar: Bar
    x: float
    y: float
    width: float
    height: float
    text_y: float
    caption_x: float


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    plot_left: float
    plot_width: float
    axis_y: float
    bars: list[PlacedBar]
    ticks: list[Tick]


def bar_chart(bars: Sequence[Bar]) -> BarChart:
    """One horizontal bar per item, its length the percentage of a 0-100 axis."""
    plot_width = BAR_WIDTH - BAR_LABEL_WIDTH - BAR_CAPTION_WIDTH
    placed = []
    for i, bar in enumerate(bars):
        y = i * BAR_ROW + (BAR_ROW - BAR_THICKNESS) / 2
        length = plot_width * min(max(bar.percent, 0.0), 100.0) / 100
        placed.append(
            PlacedBar(
                bar=bar,
                x=BAR_LABEL_WIDTH,
                y=y,
                width=round(length, 2),
                height=BAR_THICKNESS,
                text_y=y + BAR_THICKNESS * 0.75,
                caption_x=round(BAR_LABEL_WIDTH + length + 6, 2),
            )
        )
    axis_y = len(bars) * BAR_ROW
    ticks = [
        Tick(at=round(BAR_LABEL_WIDTH + plot_width * p / 100, 2), label=f"{p} %")
        for p in (0, 25, 50, 75, 100)
    ]
    return BarChart(
        width=BAR_WIDTH,
        height=int(axis_y + AXIS_HEIGHT),
        plot_left=BAR_LABEL_WIDTH,
        plot_width=plot_width,
        axis_y=axis_y,
        bars=placed,
        ticks=ticks,
    )


LINE_WIDTH = 720
LINE_HEIGHT = 260
LINE_LEFT = 48
LINE_RIGHT = 16
LINE_TOP = 12
LINE_BOTTOM = 28


@dataclass(frozen=True)
class Marker:
    day: date
    label: str


@dataclass(frozen=True)
class PlacedMarker:
    marker: Marker
    x: float


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    points: str  # the SVG polyline's points: a step for each day the count changed
    last: tuple[date, int] | None
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    markers: list[PlacedMarker]


def line_chart(
    series: Sequence[tuple[date, int]],
    total: int,
    start: date,
    end: date,
    markers: Sequence[Marker] = (),
) -> LineChart:
    """Lines completed over time from ``start`` to ``end`` (0 before the first point), as
    steps on a 0-``total`` axis, with a tick at each 1 January and a line at each marker."""
    if end <= start:
        end = date.fromordinal(start.toordinal() + 1)
    left, right = LINE_LEFT, LINE_WIDTH - LINE_RIGHT
    top, bottom = LINE_TOP, LINE_HEIGHT - LINE_BOTTOM
    span = end.toordinal() - start.toordinal()
    scale = max(total, 1)

    def x(day: date) -> float:
        clamped = min(max(day.toordinal(), start.toordinal()), end.toordinal())
        return round(left + (right - left) * (clamped - start.toordinal()) / span, 2)

    def y(value: int) -> float:
        return round(bottom - (bottom - top) * value / scale, 2)

    inside = [(d, v) for d, v in series if d <= end]
    coordinates = [(x(start), y(0))]
    level = 0
    for day, value in inside:
        coordinates += [(x(day), y(level)), (x(day), y(value))]
        level = value
    coordinates.append((x(end), y(level)))
    x_ticks = [
        Tick(at=x(date(year, 1, 1)), label=str(year))
        for year in range(start.year + (start > date(start.year, 1, 1)), end.year + 1)
    ]
    y_ticks = [Tick(at=y(round(total * p / 100)), label=f"{p} %") for p in (0, 25, 50, 75, 100)]
    return LineChart(
        width=LINE_WIDTH,
        height=LINE_HEIGHT,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        points=" ".join(f"{a},{b}" for a, b in coordinates),
        last=inside[-1] if inside else None,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        markers=[PlacedMarker(m, x(m.day)) for m in markers if start <= m.day <= end],
    )
