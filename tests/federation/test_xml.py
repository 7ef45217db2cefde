"""``federation.saml.xml.parse`` gives every thread documents in that thread's own libxml2 string dictionary.

libxml2 does not allow two threads to write one dictionary, and lxml keeps one per thread for that reason; but a
parser shared between threads hands a thread whose first XML call is a parse the dictionary of the thread that
used the parser last. Shared like that, a thread parsing while another built elements garbled element names now
and then (journeys under gunicorn's threads failed to sign, encrypt or parse: docs/operations.md).

lxml has no API that names a document's dictionary, so the test reads it from the C structures: lxml's
``LxmlElement`` and ``LxmlDocument`` (public header ``lxml.etree.h``) and libxml2's ``xmlNode`` and ``xmlDoc``
(public ABI). The offsets are those of the lxml and libxml2 versions pinned in pyproject.toml on a 64-bit
build; the first test fails, rather than reading memory blindly, when the versions change.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable

from lxml import etree

from bench.client import _page
from federation.saml.xml import parse

KNOWN_LAYOUT = {"lxml": (6, 1), "libxml2": (2, 14), "pointer bytes": 8}
_POINTER = 8
_ELEMENT_DOC, _ELEMENT_C_NODE = 2 * _POINTER, 3 * _POINTER  # after PyObject_HEAD (2 words): _doc, _c_node
_DOCUMENT_C_DOC = 5 * _POINTER  # PyObject_HEAD, __pyx_vtab, _ns_counter (padded), _prefix_tail, then _c_doc
_NODE_TYPE, _NODE_NAME, _NODE_DOC = _POINTER, 2 * _POINTER, 8 * _POINTER  # _private, type, name, …, prev, doc
_DOC_DICT = 19 * _POINTER  # … doc, compression+standalone, intSubset, extSubset, oldNs, version, encoding,
# ids, refs, URL, charset (padded), then dict
XML_ELEMENT_NODE = 1
DOCUMENT_NODES = (9, 13)  # XML_DOCUMENT_NODE, XML_HTML_DOCUMENT_NODE


def _word(address: int) -> int:
    return ctypes.c_void_p.from_address(address).value or 0


def _dictionary_of(element: etree._Element) -> int:
    """The address of the libxml2 dictionary that ``element``'s document keeps its names in, after checking
    each step against what lxml itself says of the element."""
    node = _word(id(element) + _ELEMENT_C_NODE)
    assert node, "lxml's layout changed"
    assert ctypes.c_int.from_address(node + _NODE_TYPE).value == XML_ELEMENT_NODE, "lxml's layout changed"
    assert ctypes.string_at(_word(node + _NODE_NAME)) == etree.QName(element).localname.encode(), "layout changed"
    document = _word(node + _NODE_DOC)
    assert document == _word(_word(id(element) + _ELEMENT_DOC) + _DOCUMENT_C_DOC), "lxml's layout changed"
    assert ctypes.c_int.from_address(document + _NODE_TYPE).value in DOCUMENT_NODES, "libxml2's layout changed"
    dictionary = _word(document + _DOC_DICT)
    assert dictionary, "libxml2's layout changed"
    return dictionary


def _first_calls(first_calls: dict[str, Callable[[], etree._Element]]) -> dict[str, int]:
    """Run each first XML call in a fresh thread, all alive together, and say which dictionary each got; a
    failure in a thread fails the test with its own message."""
    found: dict[str, int] = {}
    failures: list[BaseException] = []
    held: list[etree._Element] = []  # every document kept alive, so no address is freed and used again
    all_seen = threading.Barrier(len(first_calls) + 1)

    def run(name: str, call: Callable[[], etree._Element]) -> None:
        try:
            element = call()
            held.append(element)
            found[name] = _dictionary_of(element)
            built_after = etree.Element("after")  # this thread's later documents use the same dictionary
            held.append(built_after)
            assert _dictionary_of(built_after) == found[name]
        except BaseException as exc:
            failures.append(exc)
        finally:
            all_seen.wait(10)

    threads = [threading.Thread(target=run, args=item) for item in first_calls.items()]
    for thread in threads:
        thread.start()
    all_seen.wait(10)
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return found


def test_the_layout_read_here_is_the_one_these_versions_have() -> None:
    versions = {
        "lxml": etree.LXML_VERSION[:2],
        "libxml2": etree.LIBXML_VERSION[:2],
        "pointer bytes": ctypes.sizeof(ctypes.c_void_p),
    }
    assert versions == KNOWN_LAYOUT, "check the offsets above against the new versions' headers, then update"
    first, second = parse(b"<a><b>x</b></a>"), etree.Element("c")
    assert _dictionary_of(first) == _dictionary_of(second)  # one thread, one dictionary


def test_threads_whose_first_xml_call_is_a_parse_do_not_share_a_dictionary() -> None:
    parse(b"<main/>")  # as an app does at start-up, in its main thread
    found = _first_calls(
        {
            "parses": lambda: parse(b"<a><b>x</b></a>"),
            "parses too": lambda: parse(b"<a><b>y</b></a>"),
            "builds": lambda: etree.Element("a"),
            "parses as well": lambda: parse(b"<a><b>z</b></a>"),
        }
    )
    found["main"] = _dictionary_of(etree.Element("m"))
    assert len(set(found.values())) == len(found), found


def test_the_benchmark_clients_threads_do_not_share_a_dictionary() -> None:
    _page(b"<html><body><p>main</p></body></html>")
    found = _first_calls({name: lambda: _page(b"<html><body><p>x</p></body></html>") for name in ("one", "two")})
    found["main"] = _dictionary_of(_page(b"<html><body><p>again</p></body></html>"))
    assert len(set(found.values())) == len(found), found
