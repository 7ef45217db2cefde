"""How fast the running hub takes up a changed federation file: ``python -m bench.reload [--edits 20]``.

Runs the three apps in process on a copy of the federation file and fresh keys, renames an edited copy into
place (a service's display name changed) again and again, and prints how long the hub took to show the change
(its home page lists the services) and how long each reload took, as the hub logs it.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from federation.config import DEFAULT_FEDERATION_FILE
from keys.pki import generate
from tests.support import Citizen, start_federation, stop

CHECK_SECONDS = 0.1


class _ReloadTimes(logging.Handler):
    """The ``reloaded in N ms`` figure of each reload the apps log."""

    def __init__(self) -> None:
        super().__init__()
        self.milliseconds: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = re.search(r"reloaded in (\d+) ms", record.getMessage())
        if found:
            self.milliseconds.append(int(found.group(1)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=20)
    args = parser.parse_args(argv)
    times = _ReloadTimes()
    logging.getLogger("federation.runtime").addHandler(times)
    with tempfile.TemporaryDirectory() as directory:
        keys, path = Path(directory) / "keys", Path(directory) / "federation.yaml"
        generate(keys)
        shutil.copyfile(DEFAULT_FEDERATION_FILE, path)
        live, servers = start_federation(keys, None, federation_file=path, federation_reload_seconds=CHECK_SECONDS)
        citizen, seen = Citizen(), []
        try:
            for edit in range(args.edits):
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
                name = f"Claim a tax refund ({edit})"
                for department in data["departments"]:
                    for service in department["relying_services"]:
                        if "/claim-a-tax-refund/" in service["entity_id"]:
                            service["display_name"] = name
                new = path.with_suffix(".new")
                new.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
                started = time.monotonic()
                os.replace(new, path)
                while name not in citizen.get(live.urls["hub"] + "/").text(".govuk-main-wrapper"):
                    time.sleep(0.005)
                seen.append((time.monotonic() - started) * 1000)
        finally:
            stop(servers)
    print(
        f"{args.edits} edits of a federation file with {len(live.federation.certificates)} certificates, "
        f"checked every {CHECK_SECONDS * 1000:.0f} ms:"
    )
    print(f"  shown by the hub after: median {statistics.median(seen):.0f} ms, max {max(seen):.0f} ms")
    print(
        f"  each reload (hub process): median {statistics.median(times.milliseconds):.0f} ms, "
        f"max {max(times.milliseconds)} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
