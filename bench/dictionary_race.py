"""Show the lxml pitfall behind federation.saml.xml._parser: threads that share a parser can share a dictionary.

Each round, one thread builds an element (so it gets a new libxml2 string dictionary of its own) and then parses
through a parser shared with a second thread, whose first XML call is a parse through that parser: the second
thread adopts the first one's dictionary. Then both add 3,000 new names at once, one by building elements (with
the GIL) and one by parsing (without it). libxml2 does not allow that; now and then names come out garbled.

    .venv/bin/python -m bench.dictionary_race [rounds] [names] [--own]

Seen on 2026-11-27 (lxml 6.1.3, libxml2 2.14.6, 2 cores): 4 garbled rounds in about 9,000 rounds of 3,000
names. Rare, so a run may show none; with a parser per thread (pass ``--own``) it never can.
"""

from __future__ import annotations

import random
import sys
import threading
import time

from lxml import etree

shared = etree.XMLParser()
own = threading.local()


def parser() -> etree.XMLParser:
    if "--own" not in sys.argv:
        return shared
    mine: etree.XMLParser | None = getattr(own, "parser", None)
    if mine is None:
        mine = own.parser = etree.XMLParser()
    return mine


def names(seed: int, count: int) -> list[str]:
    chance = random.Random(seed)
    return [f"e{chance.getrandbits(48):x}" for _ in range(count)]


def main() -> int:
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds, count = (int(arguments[0]) if arguments else 3000), (int(arguments[1]) if len(arguments) > 1 else 3000)
    garbled: list[str] = []

    def builder(seed: int, go: threading.Event) -> None:
        root = etree.Element("root")  # a build first: a new dictionary for this thread
        etree.fromstring(b"<x/>", parser())  # the shared parser now holds this thread's dictionary
        go.wait()
        wanted = names(seed, count)
        for name in wanted:
            etree.SubElement(root, name)
        if [child.tag for child in root] != wanted:
            garbled.append("built")

    def reader(seed: int, go: threading.Event) -> None:
        go.wait()
        wanted = names(seed + 1, count)
        document = etree.fromstring(("<r>" + "".join(f"<{n}/>" for n in wanted) + "</r>").encode(), parser())
        if [child.tag for child in document] != wanted:
            garbled.append("parsed")

    started = time.monotonic()
    for round_number in range(rounds):
        go = threading.Event()
        first = threading.Thread(target=builder, args=(round_number * 2, go))
        first.start()
        time.sleep(0.002)
        second = threading.Thread(target=reader, args=(round_number * 2, go))
        second.start()
        time.sleep(0.001)
        go.set()
        first.join()
        second.join()
    print(f"{rounds} rounds of {count} names in {time.monotonic() - started:.0f} s: {len(garbled)} garbled")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
