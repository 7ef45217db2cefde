"""What the dashboard shows for a period, worked out from the counters in ``hub.stats``.

Framework-free: the view renders what ``build`` returns. Counts are of events in the period (a journey that
started before it and ended in it counts as completed but not as started), with two exceptions that make the
funnel a funnel: repeatable steps count each journey once, and no step counts more journeys than the step
before it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from federation.config import Federation
from federation.store import Store
from hub.operations import charts
from hub.stats import (
    DAY,
    DURATION_BOUNDS,
    HOUR,
    MINUTE,
    REPEATABLE_STEPS,
    SIGNED_IN_OUTCOMES,
    VERIFIED_OUTCOME,
    BucketCounts,
    Resolution,
    Step,
    read_buckets,
)


@dataclass(frozen=True)
class Period:
    """A period the operator can choose: how many buckets of which size, and how many go in one bar."""

    slug: str
    label: str
    resolution: Resolution
    buckets: int
    per_bar: int
    bar_label: str  # strftime format of a bar's start
    bar_noun: str

    def starts(self, now: float) -> list[int]:
        """The start of each bucket in the period, oldest first; the last is the one ``now`` is in."""
        last = self.resolution.start_of(now)
        return [last - (self.buckets - 1 - index) * self.resolution.seconds for index in range(self.buckets)]


PERIODS = {
    period.slug: period
    for period in (
        Period("hour", "Last hour", MINUTE, 60, 5, "%H:%M", "5 minutes"),
        Period("day", "Last 24 hours", HOUR, 24, 1, "%H:%M", "hour"),
        Period("week", "Last 7 days", DAY, 7, 1, "%a %d %b", "day"),
        Period("month", "Last 30 days", DAY, 30, 1, "%d %b", "day"),
    )
}
DEFAULT_PERIOD = "day"

MATCHING_OUTCOMES = {
    "matched": "Matched",
    "account-created": "Account created",
    "no-match": "No match",
    "cycle3-cancelled": "No match",  # no match at first, and the citizen did not give the extra detail
    "account-creation-failed": "No match",  # no match, and the service could not create an account
    "matching-error": "Error",
}
MATCHING_SEGMENTS = (
    charts.Segment("Matched", charts.GREEN, "matched", "matched"),
    charts.Segment("Account created", charts.BLUE, "account created", "accounts created"),
    charts.Segment("No match", charts.PURPLE, "with no match", "with no match"),
    charts.Segment("Error", charts.RED, "error", "errors"),
)
IDP_COLUMNS = {
    VERIFIED_OUTCOME: "Verified",
    "cancelled": "Cancelled",
    "authn-failed": "Not verified",
    "level-refused": "Not verified",
    "fraud": "Not verified",
    "pending": "Paused or error",
    "requester-error": "Paused or error",
}
FUNNEL = (
    (Step.STARTED, "Started at the hub"),
    (Step.CHOSE_COMPANY, "Chose a company"),
    (Step.IDP_ANSWERED, "Company answered"),
    (Step.VERIFIED, "Identity verified"),
    (Step.MATCHED, "Matched to a record"),
    (Step.SIGNED_IN, "Signed in to the service"),
)


@dataclass(frozen=True)
class Card:
    label: str
    value: str
    hint: str


@dataclass(frozen=True)
class FunnelStep:
    label: str
    journeys: int
    of_started: str
    lost: int | None
    lost_share: str


@dataclass(frozen=True)
class CompanyRow:
    name: str
    chosen: int
    answered: int
    columns: dict[str, int]
    success_rate: str


@dataclass(frozen=True)
class ServiceRow:
    name: str
    department: str
    started: int
    signed_in: int
    outcomes: dict[str, int]
    reached_matching: int
    match_rate: str


Cell = dict[str, str]


@dataclass(frozen=True)
class Table:
    """A chart's figures, as ``govukTable`` takes them."""

    head: list[Cell]
    rows: list[list[Cell]]


@dataclass(frozen=True)
class Dashboard:
    period: Period
    description: str
    cards: list[Card]
    charts: dict[str, charts.Chart]
    tables: dict[str, Table]


def _text(value: str) -> Cell:
    return {"text": value}


def _number(value: int | str) -> Cell:
    return {"text": f"{value:,}" if isinstance(value, int) else value, "format": "numeric"}


def _tables(
    over_time: list[tuple[str, int, int]],
    funnel: list[FunnelStep],
    companies: list[CompanyRow],
    services: list[ServiceRow],
) -> dict[str, Table]:
    company_columns = list(dict.fromkeys(IDP_COLUMNS.values()))
    service_columns = [segment.name for segment in MATCHING_SEGMENTS]
    return {
        "over-time": Table(
            [_text("From (UTC)"), _number("Started"), _number("Completed")],
            [[_text(label), _number(a), _number(b)] for label, a, b in over_time],
        ),
        "funnel": Table(
            [
                _text("Step"),
                _number("Journeys"),
                _number("Of those started"),
                _number("Lost at this step"),
                _number("Share lost"),
            ],  # fmt: skip
            [
                [
                    _text(s.label),
                    _number(s.journeys),
                    _number(s.of_started),
                    _number("–" if s.lost is None else s.lost),
                    _number(s.lost_share or "–"),
                ]  # fmt: skip
                for s in funnel
            ],
        ),
        "companies": Table(
            [
                _text("Company"),
                _number("Chosen"),
                _number("Answered"),
                *map(_number, company_columns),
                _number("Verified rate"),
            ],  # fmt: skip
            [
                [
                    _text(r.name),
                    _number(r.chosen),
                    _number(r.answered),
                    *(_number(r.columns[c]) for c in company_columns),
                    _number(r.success_rate),
                ]  # fmt: skip
                for r in companies
            ],
        ),
        "services": Table(
            [
                _text("Service"),
                _text("Department"),
                _number("Started"),
                _number("Identity verified"),
                *map(_number, service_columns),
                _number("Match rate"),
                _number("Signed in"),
            ],  # fmt: skip
            [
                [
                    _text(r.name),
                    _text(r.department),
                    _number(r.started),
                    _number(r.reached_matching),
                    *(_number(r.outcomes[c]) for c in service_columns),
                    _number(r.match_rate),
                    _number(r.signed_in),
                ]  # fmt: skip
                for r in services
            ],
        ),
    }


class Totals:
    """The fields of a period's buckets added up, and read by kind: ``started``, ``idp``, ``response``…"""

    def __init__(self, buckets: Iterable[BucketCounts]) -> None:
        self.by_kind: dict[str, Counter[tuple[str, ...]]] = {}
        for bucket in buckets:
            for name, count in bucket.fields.items():
                kind, *rest = name.split("|")
                self.by_kind.setdefault(kind, Counter())[tuple(rest)] += count

    def kind(self, kind: str) -> Counter[tuple[str, ...]]:
        return self.by_kind.get(kind, Counter())

    def total(self, kind: str, *, outcomes: Iterable[str] | None = None) -> int:
        wanted = None if outcomes is None else set(outcomes)
        return sum(n for key, n in self.kind(kind).items() if wanted is None or key[-1] in wanted)


def _describe(period: Period, starts: Sequence[int], now: float) -> str:
    """When the period runs from and to, in words: day periods start at midnight, the others on the bucket."""
    since = time.strftime("%d %B" if period.resolution is DAY else "%H:%M on %d %B", time.gmtime(starts[0]))
    return f"from {since} to {time.strftime('%H:%M on %d %B %Y', time.gmtime(now))} (UTC)"


def _median_time(totals: Totals) -> tuple[str, str]:
    """The band of durations the median sign-in falls in, as a short figure and the sentence it stands for.

    The counters keep each journey's duration band (``DURATION_BOUNDS``), not its time, so a band is all the
    median can be: shown as a band ("30 s to 1 min"), never as its upper bound alone, which would read as a time
    someone measured.
    """
    counts = {key[-1]: n for key, n in totals.kind("duration").items() if key[0] == "signed-in"}
    whole = sum(counts.values())
    if not whole:
        return "–", "no sign-ins in the period"
    who = "the only sign-in" if whole == 1 else f"at least half of the {whole:,} sign-ins"
    running, lower = 0, 0
    for bound in DURATION_BOUNDS:
        running += counts.get(str(bound), 0)
        if running * 2 >= whole:
            return _band(lower, bound), f"{who} took {_words(bound)} or less"
        lower = bound
    who = "the only sign-in" if whole == 1 else f"more than half of the {whole:,} sign-ins"
    return f"over {_short(lower)}", f"{who} took over {_words(lower)}"


def _band(lower: int, upper: int) -> str:
    """A duration band in short: "30 s or less", "30 s to 1 min", "2 to 5 min"."""
    if not lower:
        return f"{_short(upper)} or less"
    if lower >= 60:
        return f"{lower // 60} to {upper // 60} min"
    return f"{_short(lower)} to {_short(upper)}"


def _short(seconds: int) -> str:
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min"


def _words(seconds: int) -> str:
    return charts.counted(seconds, "second") if seconds < 60 else charts.counted(seconds // 60, "minute")


def _funnel(totals: Totals) -> list[FunnelStep]:
    reached = {key[0]: n for key, n in totals.kind("reached").items()}
    counts = {
        **{step: reached.get(step.value, 0) for step in REPEATABLE_STEPS},
        Step.STARTED: totals.total("started"),
        Step.SIGNED_IN: totals.total("response", outcomes=SIGNED_IN_OUTCOMES),
    }
    steps: list[FunnelStep] = []
    previous: int | None = None
    started = counts[Step.STARTED]
    for step, label in FUNNEL:
        journeys = counts[step] if previous is None else min(counts[step], previous)
        lost = None if previous is None else previous - journeys
        share = charts.percent(lost, previous) if lost is not None and previous is not None else ""
        steps.append(FunnelStep(label, journeys, charts.percent(journeys, started), lost, share))
        previous = journeys
    return steps


def _companies(totals: Totals, federation: Federation) -> list[CompanyRow]:
    outcomes: dict[str, Counter[str]] = {}
    for (idp, outcome), n in totals.kind("idp").items():
        outcomes.setdefault(idp, Counter())[IDP_COLUMNS.get(outcome, "Paused or error")] += n
    chosen = {key[0]: n for key, n in totals.kind("chosen").items()}
    names = {idp.entity_id: idp.display_name for idp in federation.file.identity_providers}
    seen = [*names, *sorted((set(outcomes) | set(chosen)) - set(names))]
    rows = []
    for entity_id in seen:
        columns = {name: outcomes.get(entity_id, Counter())[name] for name in dict.fromkeys(IDP_COLUMNS.values())}
        answered = sum(columns.values())
        rate = charts.percent(columns["Verified"], answered)
        rows.append(CompanyRow(names.get(entity_id, entity_id), chosen.get(entity_id, 0), answered, columns, rate))
    return rows


def _services(totals: Totals, federation: Federation) -> list[ServiceRow]:
    responses: dict[str, Counter[str]] = {}
    for (service, outcome), n in totals.kind("response").items():
        responses.setdefault(service, Counter())[outcome] += n
    started = {key[0]: n for key, n in totals.kind("started").items()}
    names = {rp.entity_id: rp.display_name for rp in federation.file.relying_services}
    departments = {d.id: d.name for d in federation.file.departments}
    department_of = {
        rp.entity_id: departments.get(rp.department, rp.department) for rp in federation.file.relying_services
    }
    seen = [*names, *sorted((set(responses) | set(started)) - set(names))]
    rows = []
    for entity_id in seen:
        answered = responses.get(entity_id, Counter())
        outcomes = {segment.name: 0 for segment in MATCHING_SEGMENTS}
        for outcome, segment in MATCHING_OUTCOMES.items():
            outcomes[segment] += answered[outcome]
        reached = sum(outcomes.values())
        signed_in = sum(answered[o] for o in SIGNED_IN_OUTCOMES)
        rate = charts.percent(outcomes["Matched"] + outcomes["Account created"], reached)
        rows.append(
            ServiceRow(
                names.get(entity_id, entity_id),
                department_of.get(entity_id, "Not in the federation now"),
                started.get(entity_id, 0),
                signed_in,
                outcomes,
                reached,
                rate,
            )
        )
    return rows


def build(store: Store, federation: Federation, period: Period, now: float | None = None) -> Dashboard:
    """Everything the dashboard shows for ``period`` up to ``now``, read in one round trip."""
    now = time.time() if now is None else now
    starts = period.starts(now)
    buckets = read_buckets(store, period.resolution, starts)
    totals = Totals(buckets)
    funnel = _funnel(totals)
    over_time = []
    for index in range(0, len(buckets), period.per_bar):
        group = Totals(buckets[index : index + period.per_bar])
        label = time.strftime(period.bar_label, time.gmtime(buckets[index].start))
        over_time.append((label, group.total("started"), group.total("response")))
    companies, services = _companies(totals, federation), _services(totals, federation)
    started, completed = totals.total("started"), totals.total("response")
    signed_in = totals.total("response", outcomes=SIGNED_IN_OUTCOMES)
    answered = sum(row.answered for row in companies)
    verified = sum(row.columns["Verified"] for row in companies)
    cards = [
        Card("Journeys started", f"{started:,}", "citizens sent to the hub by a service"),
        Card("Journeys completed", f"{completed:,}", "the hub answered the service"),
        Card(
            "Signed in",
            charts.percent(signed_in, completed),
            f"{signed_in:,} of {charts.counted(completed, 'completed journey')}",
        ),
        Card(
            "Identity verified",
            charts.percent(verified, answered),
            f"{verified:,} of {charts.counted(answered, 'company answer')}",
        ),
        Card("Median time to sign in", *_median_time(totals)),
    ]
    chart_set = {
        "over-time": charts.bars_over_time(
            "over-time-chart",
            f"Journeys started and completed, per {period.bar_noun}",
            over_time,
            ("Started", "Completed"),
        ),
        "funnel": charts.funnel(
            "funnel-chart", "Journeys reaching each step", [(step.label, step.journeys) for step in funnel]
        ),
        "companies": charts.rates(
            "companies-chart",
            "Identity verified, by certified company",
            [(row.name, row.columns["Verified"], row.answered) for row in companies],
            "answers",
        ),
        "services": charts.shares(
            "services-chart",
            "Matching outcome, by service",
            [(row.name, list(row.outcomes.values())) for row in services],
            MATCHING_SEGMENTS,
        ),
    }
    return Dashboard(
        period,
        _describe(period, starts, now),
        cards,
        chart_set,
        _tables(over_time, funnel, companies, services),
    )
