"""``ida-hub``: the operator's tool for the federation (configuration, certificates, metadata, keys, self-check).

Each subcommand lives in its own module and registers itself here. Whatever goes wrong is said in plain words
with a non-zero exit: 1 when a check found problems, 2 when the command could not run. Never a traceback,
unless ``--debug`` asks for one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hub.cli import config_commands, enrol_commands, keys_commands, metadata_commands, selfcheck_commands
from hub.cli.common import CANNOT_RUN, CliError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ida-hub",
        description="Operate an ida-hub federation: check its configuration and certificates, publish metadata, "
        "roll keys over, and let relying-service teams check their set-up. See docs/operations.md.",
    )
    parser.add_argument("--debug", action="store_true", help="show a traceback when something unexpected fails")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (config_commands, metadata_commands, keys_commands, enrol_commands, selfcheck_commands):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except CliError as exc:
        print(f"ida-hub: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ida-hub: stopped", file=sys.stderr)
        return CANNOT_RUN
    except Exception as exc:  # the operator gets words, not a traceback, unless they ask for one
        if args.debug:
            raise
        print(
            f"ida-hub: unexpected error ({type(exc).__name__}: {exc}). Run again with --debug for the details.",
            file=sys.stderr,
        )
        return CANNOT_RUN
