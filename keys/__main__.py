"""``python -m keys [--force] [--dir DIR] [--new-data-key]``: generate the federation's keys and certificates, and
the hub's data key.

Without ``--force`` an existing, complete set is left alone, so ``make run`` can call this every time; a data key
is written whenever there is none. ``--new-data-key`` adds another data key (a rotation: docs/operations.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from keys.pki import DATA_KEYS_DIR, DEFAULT_LEAVES, DataKeyError, generate, has_data_key, is_complete, new_data_key

DEFAULT_DIR = Path(__file__).resolve().parent / "generated"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keys", description=__doc__)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where to write (default: keys/generated)")
    parser.add_argument("--force", action="store_true", help="regenerate even if a complete set exists")
    parser.add_argument(
        "--new-data-key", action="store_true", help="add a new data key for the hub (it seals from the next start)"
    )
    args = parser.parse_args(argv)
    if args.new_data_key:
        try:
            key_id = new_data_key(args.dir)
        except DataKeyError as exc:
            print(f"python -m keys: {exc}", file=sys.stderr)
            return 1
        print(f"Wrote data key {key_id} to {args.dir / DATA_KEYS_DIR}")
        return 0
    if is_complete(args.dir) and not args.force:
        print(f"Keys already present in {args.dir} (use --force to regenerate)")
        if not has_data_key(args.dir):
            print(f"Wrote data key {new_data_key(args.dir)} to {args.dir / DATA_KEYS_DIR}")
        return 0
    written = generate(args.dir, DEFAULT_LEAVES)
    print(f"Wrote {len(written)} certificates and their private keys to {args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
