"""``python -m hub.journey.diagram``: ``docs/journey.md``, drawn from the transition table (a test keeps it in step).

``--write`` writes the file; without it the page is printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hub.journey.stages import EXIT_PAGES, STAGE_PAGES, STATUS_FOR_STAGE, TRANSITIONS, Move, Stage

DOC = Path(__file__).resolve().parents[2] / "docs" / "journey.md"
_ORDER = list(Stage)


def _state(stage: Stage) -> str:
    return stage.value.replace("-", "_")


def _stages(stages: frozenset[Stage]) -> str:
    return ", ".join(f"`{stage.value}`" for stage in sorted(stages, key=_ORDER.index)) or "—"


def mermaid() -> list[str]:
    """A Mermaid state diagram: every allowed move from every stage (a move that keeps the stage is left out)."""
    lines = ["stateDiagram-v2", f"    [*] --> {_state(Stage.STARTED)}"]
    for move, transition in TRANSITIONS.items():
        for source in sorted(transition.sources, key=_ORDER.index):
            if move is Move.ENDED:
                lines.append(f"    {_state(source)} --> [*]: {move.value}")
            for target in sorted(transition.targets, key=_ORDER.index):
                lines.append(f"    {_state(source)} --> {_state(target)}: {move.value}")
    return lines


def page() -> str:
    """The whole of docs/journey.md."""
    out = [
        "# The citizen's journey through the hub",
        "",
        "Generated from `hub/journey/stages.py` by `python -m hub.journey.diagram --write`; do not edit by hand",
        "(`tests/hub/test_journey_stages.py` fails when it is out of step with the table).",
        "",
        "A journey starts at `started` when a relying service's AuthnRequest arrives, and ends when the service has",
        "been answered (`service answered`), after which nothing of it is kept. Every change of stage is one of the",
        "moves below, made by a method of `hub.journey.Journey`, which refuses a move its stage does not allow.",
        "",
        "## Moves",
        "",
        "| move | from | to |",
        "|---|---|---|",
    ]
    for move, transition in TRANSITIONS.items():
        if move is Move.ENDED:
            to = "the journey ends"
        else:
            to = _stages(transition.targets) if transition.targets else "the same stage"
        out.append(f"| {move.value} | {_stages(transition.sources)} | {to} |")
    out += [
        "",
        "## What each stage shows and tells the service",
        "",
        "| stage | page | the service is told |",
        "|---|---|---|",
    ]
    for stage in Stage:
        page_name = EXIT_PAGES[stage].path if stage in EXIT_PAGES else STAGE_PAGES[stage]
        status = STATUS_FOR_STAGE.get(stage)
        told = "—" if status is None else " / ".join(part.rsplit(":", 1)[-1] for part in status if part)
        out.append(f"| `{stage.value}` | `{page_name}` | {told} |")
    out += ["", "## Diagram", "", "```mermaid", *mermaid(), "```", ""]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        DOC.write_text(page(), encoding="utf-8")
        return 0
    sys.stdout.write(page())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
