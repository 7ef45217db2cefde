"""What every subcommand shares: the error it raises, where settings come from, and plain tables."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from federation.config import Federation, FederationConfigError, load_federation
from federation.settings import AppSettings

# Exit codes: 0 all is well, 1 a check found problems, 2 the command could not run.
OK = 0
PROBLEMS = 1
CANNOT_RUN = 2


class CliError(Exception):
    """The command could not do what was asked. The message is shown to the operator as it is."""

    exit_code = CANNOT_RUN


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--federation-file", type=Path, help="the federation file (default: $FEDERATION_FILE or federation.yaml)"
    )
    parser.add_argument("--keys-dir", type=Path, help="the keys directory (default: $KEYS_DIR or keys/generated)")


def settings(args: argparse.Namespace) -> AppSettings:
    """The apps' own settings (defaults, then FEDERATION_FILE and KEYS_DIR), then this command's options."""
    overrides = {}
    if getattr(args, "federation_file", None):
        overrides["federation_file"] = args.federation_file
    if getattr(args, "keys_dir", None):
        overrides["keys_dir"] = args.keys_dir
    return AppSettings.build(overrides)


def load_checked(args: argparse.Namespace) -> Federation:
    """The federation exactly as the apps load it at start-up, or a CliError in the apps' own words."""
    chosen = settings(args)
    try:
        return load_federation(chosen.federation_file, keys_dir=chosen.keys_dir)
    except FederationConfigError as exc:
        raise CliError(str(exc)) from exc


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, as plain text that survives a terminal, a log or an email."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = [headers, ["-" * width for width in widths], *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines
    )
