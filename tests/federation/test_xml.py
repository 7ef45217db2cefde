"""``federation.xml.parse`` gives every thread documents in that thread's own libxml2 string dictionary.

libxml2 does not allow two threads to write one dictionary, and lxml keeps one per thread for that reason; but a
parser shared between threads hands a thread whose first XML call is a parse the dictionary of the thread that
used the parser last. Shared like that, a thread parsing while another built elements garbled element names now
and then (about one journey in five thousand under gunicorn's threads failed to sign, encrypt or parse).

lxml has no API that names a document's dictionary, so the test reads it from the C structures: lxml's
``LxmlElement`` (public header ``lxml.etree.h``) and libxml2's ``xmlNode`` and ``xmlDoc`` (public ABI, unchanged
for many releases), after checking the layout it assumes against values it knows.
"""

from __future__ import annotations

import ctypes
import threading

from lxml import etree

from federation.xml import parse

_POINTER = ctypes.sizeof(ctypes.c_void_p)
_ELEMENT_C_NODE = 3 * _POINTER  # PyObject_HEAD (2 words), then _doc, then _c_node
_DOCUMENT_C_DOC = 5 * _POINTER  # PyObject_HEAD, __pyx_vtab, _ns_counter (padded), _prefix_tail, then _c_doc
_NODE_TYPE, _NODE_DOC = _POINTER, 8 * _POINTER  # _private, type, name, children, last, parent, next, prev, doc
_DOC_DICT = 19 * _POINTER  # … doc, compression+standalone, intSubset, extSubset, oldNs, version, encoding,
# ids, refs, URL, charset (padded), then dict
XML_ELEMENT_NODE, XML_DOCUMENT_NODE = 1, 9


def _word(address: int) -> int:
    return ctypes.c_void_p.from_address(address).value or 0


def _dictionary_of(element: etree._Element) -> int:
    """The address of the libxml2 dictionary that ``element``'s document keeps its names in."""
    node = _word(id(element) + _ELEMENT_C_NODE)
    assert node and ctypes.c_int.from_address(node + _NODE_TYPE).value == XML_ELEMENT_NODE, "lxml's layout changed"
    document = _word(node + _NODE_DOC)
    lxml_document = _word(id(element) + 2 * _POINTER)
    assert document and document == _word(lxml_document + _DOCUMENT_C_DOC), "lxml's layout changed"
    assert ctypes.c_int.from_address(document + _NODE_TYPE).value == XML_DOCUMENT_NODE, "libxml2's layout changed"
    dictionary = _word(document + _DOC_DICT)
    assert dictionary, "libxml2's layout changed"
    return dictionary


def test_the_layout_read_here_finds_one_dictionary_per_thread() -> None:
    first, second = parse(b"<a><b>x</b></a>"), etree.Element("c")
    assert _dictionary_of(first) == _dictionary_of(second)  # one thread, one dictionary


def test_threads_whose_first_xml_call_is_a_parse_do_not_share_a_dictionary() -> None:
    parse(b"<main/>")  # as an app does at start-up, in its main thread
    found: dict[str, int] = {}
    held: list[etree._Element] = []  # keep every document alive, so no address is freed and used again
    all_seen = threading.Barrier(5)

    def first_call(name: str, build: bool) -> None:
        element = etree.Element("a") if build else parse(b"<a><b>x</b></a>")
        held.append(element)
        found[name] = _dictionary_of(element)
        all_seen.wait(10)

    threads = [
        threading.Thread(target=first_call, args=(name, name == "builds"))
        for name in ("parses", "parses too", "builds", "parses as well")
    ]
    for thread in threads:
        thread.start()
    all_seen.wait(10)
    for thread in threads:
        thread.join()
    found["main"] = _dictionary_of(etree.Element("m"))
    assert len(set(found.values())) == len(found), found
