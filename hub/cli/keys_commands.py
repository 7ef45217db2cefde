"""``ida-hub keys generate`` and ``ida-hub keys rotate``: the federation's keys, made and rolled over."""

from __future__ import annotations

import argparse
from pathlib import Path

from hub.cli.common import OK, CliError, add_settings_options, settings
from hub.cli.rollover import Stage, describe, rotate
from keys.__main__ import main as generate_keys


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="generate or roll over keys and certificates")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")

    generate = actions.add_parser(
        "generate", help="write a whole test PKI (root, role CAs, every entity's keys), as `python -m keys` does"
    )
    generate.add_argument("--force", action="store_true", help="regenerate even if a complete set exists")
    add_settings_options(generate)
    generate.set_defaults(handler=keys_generate)

    rotate_parser = actions.add_parser(
        "rotate",
        help="roll a signing key over without downtime: add, then promote, then retire",
        description="Roll a signing key over in three stages run days apart. `add` issues a new key from the same "
        "CA and lists it after the old one (accepted, not used); `promote` puts it first (it signs, the old one is "
        "still accepted); `retire` removes the old one. `status` says where a rollover is. The federation file is "
        "edited in place, keeping its comments and anchors, and only if the result loads as the apps would load it.",
    )
    rotate_parser.add_argument("certificate", help="the signing certificate to roll over, e.g. hub-signing")
    rotate_parser.add_argument("stage", choices=[stage.value for stage in Stage], help="the stage to run")
    rotate_parser.add_argument("--days", type=int, default=365, help="validity of the new certificate (add)")
    rotate_parser.add_argument(
        "--ca-key", type=Path, help="the role CA's private key (default: <role>-ca.key in the keys directory)"
    )
    rotate_parser.add_argument("--dry-run", action="store_true", help="show the edit; write nothing")
    add_settings_options(rotate_parser)
    rotate_parser.set_defaults(handler=keys_rotate)


def keys_generate(args: argparse.Namespace) -> int:
    argv = ["--dir", str(settings(args).keys_dir)]
    return generate_keys([*argv, "--force"] if args.force else argv)


def keys_rotate(args: argparse.Namespace) -> int:
    if not 1 <= args.days <= 3650:
        raise CliError("--days must be between 1 and 3650")
    chosen = settings(args)
    result = rotate(
        chosen.federation_file,
        chosen.keys_dir,
        args.certificate,
        Stage(args.stage),
        days=args.days,
        ca_key=args.ca_key,
        dry_run=args.dry_run,
    )
    if result.diff:
        print(result.diff)
    for path in result.written:
        print(f"Wrote {path}")
    if args.dry_run and result.stage is not Stage.STATUS:
        print("Dry run: nothing written.")
    print(describe(result))
    return OK
