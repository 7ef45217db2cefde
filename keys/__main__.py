"""``python -m keys [--force] [--dir DIR]``: generate the federation's keys and certificates.

Without ``--force`` an existing, complete set is left alone, so ``make run`` can call this every time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from keys.pki import DEFAULT_LEAVES, generate, is_complete

DEFAULT_DIR = Path(__file__).resolve().parent / "generated"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keys", description=__doc__)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where to write (default: keys/generated)")
    parser.add_argument("--force", action="store_true", help="regenerate even if a complete set exists")
    args = parser.parse_args(argv)
    if is_complete(args.dir) and not args.force:
        print(f"Keys already present in {args.dir} (use --force to regenerate)")
        return 0
    written = generate(args.dir, DEFAULT_LEAVES)
    print(f"Wrote {len(written)} certificates and their private keys to {args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
