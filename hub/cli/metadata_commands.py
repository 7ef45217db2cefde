"""``ida-hub metadata print`` and ``ida-hub metadata verify``: the signed metadata the hub publishes."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from federation.saml.keys import KeyPair
from federation.saml.metadata import PUBLISHED_VALIDITY, MetadataError, federation_metadata, hub_metadata, read_metadata
from federation.saml.xml import NS, now, parse_instant, q
from hub.cli.common import OK, PROBLEMS, CliError, add_settings_options, load_checked


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    metadata = commands.add_parser("metadata", help="print or verify signed SAML metadata")
    actions = metadata.add_subparsers(dest="action", required=True, metavar="ACTION")

    printer = actions.add_parser("print", help="write freshly signed metadata to standard output or a file")
    which = printer.add_mutually_exclusive_group()
    which.add_argument(
        "--federation", dest="kind", action="store_const", const="federation", help="hub and every IDP (default)"
    )
    which.add_argument("--hub", dest="kind", action="store_const", const="hub", help="the hub alone")
    printer.add_argument(
        "--valid-days",
        type=int,
        default=PUBLISHED_VALIDITY.days,
        help=f"validUntil this many days ahead (default {PUBLISHED_VALIDITY.days}, as the hub publishes)",
    )
    printer.add_argument("--out", type=Path, help="write here instead of standard output")
    add_settings_options(printer)
    printer.set_defaults(handler=print_metadata, kind="federation")

    verify = actions.add_parser("verify", help="check a metadata file's signature and validUntil")
    verify.add_argument("file", type=Path, help="the metadata file to check")
    add_settings_options(verify)
    verify.set_defaults(handler=verify_metadata)


def print_metadata(args: argparse.Namespace) -> int:
    if not 1 <= args.valid_days <= 365:
        raise CliError("--valid-days must be between 1 and 365")
    federation = load_checked(args)
    certificate = federation.file.metadata_signing_certificate
    key_path = federation.private_key_path(certificate)
    if not key_path.is_file():
        raise CliError(f"the metadata signing key {key_path} is not there: metadata is signed where that key is kept")
    signer = KeyPair(key_path, federation.cert(certificate))
    build = hub_metadata if args.kind == "hub" else federation_metadata
    data = build(federation, signer, now(), dt.timedelta(days=args.valid_days))
    if args.out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return OK
    try:
        args.out.write_bytes(data)
    except OSError as exc:
        raise CliError(f"cannot write {args.out}: {exc.strerror}") from exc
    print(f"Wrote {args.kind} metadata, signed with {certificate}, valid for {args.valid_days} days, to {args.out}")
    return OK


def verify_metadata(args: argparse.Namespace) -> int:
    federation = load_checked(args)
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror}") from exc
    certificate = federation.file.metadata_signing_certificate
    moment = now()
    try:
        root = read_metadata(data, [federation.cert(certificate)], moment)
    except MetadataError as exc:
        print(f"{args.file}: NOT VALID: {exc}")
        return PROBLEMS
    until = parse_instant(root.get("validUntil"))
    entities = [root] if root.tag == q("md", "EntityDescriptor") else root.findall(q("md", "EntityDescriptor"))
    print(f"{args.file}: valid. Signed with the federation's metadata key ({certificate}).")
    print(f"Valid until {until:%Y-%m-%d %H:%M} UTC ({(until - moment).total_seconds() / 86400:.1f} days from now).")
    print(f"{len(entities)} entities:")
    for entity in entities:
        signing = {
            "".join(str(node.text).split())
            for node in entity.iterfind(
                f".//{{{NS['md']}}}KeyDescriptor[@use='signing']//{{{NS['ds']}}}X509Certificate"
            )
        }
        print(f"  {entity.get('entityID')} ({len(signing)} signing certificate{'' if len(signing) == 1 else 's'})")
    return OK
