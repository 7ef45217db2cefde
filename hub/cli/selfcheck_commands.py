"""``ida-hub self-check`` (a service's metadata and entry) and ``ida-hub self-check journey`` (a test journey)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hub.cli.common import OK, PROBLEMS, CliError, add_settings_options, settings, table
from hub.cli.journey import SCENARIOS, JourneyDriver, JourneyResult, short_status
from hub.cli.selfcheck import render, self_check


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "self-check",
        help="check a relying service against the hub's rules, or run test journeys to it",
        description="Without a subcommand: check a relying service's SAML metadata (--metadata) and/or its entry "
        "in the federation file (--entity-id) against the hub's rules. `self-check journey` drives test journeys "
        "from the service's start page through the hub and a stub identity provider back to the service.",
    )
    check.add_argument("--metadata", type=Path, help="the service's SAML metadata file (an SPSSODescriptor)")
    check.add_argument("--entity-id", help="the service's entity ID in the federation file (default: the metadata's)")
    add_settings_options(check)
    check.set_defaults(handler=static_check)
    journeys = check.add_subparsers(dest="action", metavar="journey")
    journey = journeys.add_parser(
        "journey",
        help="drive test journeys from the service's start page and report what the hub and the service answered",
        epilog="scenarios (what the pretend citizen does): "
        + "; ".join(f"{name}: {scenario.description}" for name, scenario in SCENARIOS.items()),
    )
    journey.add_argument("--start-url", required=True, help="the service page that sends the citizen to the hub")
    which = journey.add_mutually_exclusive_group()
    which.add_argument("--scenario", choices=sorted(SCENARIOS), action="append", help="a scenario (repeatable)")
    which.add_argument("--all", action="store_true", help="every scenario")
    journey.add_argument("--idp", help="the stub identity provider to choose: entity ID, name or slug (default: first)")
    journey.add_argument("--timeout", type=float, default=30, help="seconds to wait for each page (default 30)")
    journey.set_defaults(handler=journey_check)


def static_check(args: argparse.Namespace) -> int:
    chosen = settings(args)
    metadata = None
    if args.metadata is not None:
        try:
            metadata = args.metadata.read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read {args.metadata}: {exc.strerror}") from exc
    report = self_check(
        keys_dir=chosen.keys_dir,
        federation_file=chosen.federation_file,
        entity_id=args.entity_id,
        metadata=metadata,
        metadata_name=str(args.metadata.name if args.metadata else "metadata"),
    )
    print(render(report))
    return PROBLEMS if report.findings else OK


def journey_check(args: argparse.Namespace) -> int:
    names = list(SCENARIOS) if args.all else (args.scenario or ["match"])
    results: list[JourneyResult] = []
    for name in names:
        driver = JourneyDriver(args.start_url, idp=args.idp, timeout=args.timeout)
        try:
            results.append(driver.run(SCENARIOS[name]))
        finally:
            driver.session.close()
    print(f"Test journeys from {args.start_url}")
    print()
    print(render_results(results))
    failed = [result for result in results if not result.passed]
    print()
    if failed:
        print(f"{len(failed)} of {len(results)} scenarios did not complete.")
        return PROBLEMS
    print(f"All {len(results)} scenarios completed: the hub answered and the service's ACS accepted the answer.")
    return OK


def render_results(results: list[JourneyResult]) -> str:
    rows = [
        [
            result.scenario,
            short_status(result.saml_status) or "-",
            short_status(result.saml_sub_status) or "-",
            str(result.acs_status) if result.acs_status is not None else "-",
            "ok" if result.passed else f"FAILED: {result.problem}",
        ]
        for result in results
    ]
    return table(["SCENARIO", "HUB STATUS", "SECOND LEVEL", "ACS HTTP", "RESULT"], rows)
