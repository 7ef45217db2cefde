"""Reading a ``saml:AttributeStatement`` strictly: every name once, only the names expected there, values bounded.

A statement that repeats a name cannot be read safely: a reader that keeps the last copy (or the first) can be
shown a victim's surname or date of birth beside the genuine one, and an identity provider's key, or a bug in
one, would then swap an identity. So a repeated name refuses the whole message, as does a name that belongs in
another assertion (the matching dataset in the authentication assertion, say). Every statement the federation
reads goes through ``attributes_by_name``.
"""

from __future__ import annotations

from collections.abc import Collection

from lxml import etree

from federation.errors import ProtocolError
from federation.saml.xml import MAX_ATTRIBUTE_VALUE_CHARS, q

# The most values one attribute may carry: Verify's datasets held a few names and addresses of history each.
MAX_VALUES_PER_ATTRIBUTE = 20
_ATTRIBUTE = q("saml", "Attribute")
_VALUE = q("saml", "AttributeValue")


def attributes_by_name(statement: etree._Element, allowed: Collection[str], what: str) -> dict[str, etree._Element]:
    """The statement's ``saml:Attribute`` elements by Name.

    Refused (ProtocolError, naming ``what`` and never a value): anything in the statement but plain attributes
    (an ``EncryptedAttribute``, say); a name outside ``allowed``; a name twice; more than
    ``MAX_VALUES_PER_ATTRIBUTE`` values; a value whose text is longer than ``MAX_ATTRIBUTE_VALUE_CHARS``.
    """
    attributes: dict[str, etree._Element] = {}
    for node in statement:
        if not isinstance(node.tag, str):
            continue  # comments were removed on parsing; nothing else but elements can be here
        if node.tag != _ATTRIBUTE:
            raise ProtocolError(f"{what} holds something other than attributes")
        name = node.get("Name", "")
        if name not in allowed:
            raise ProtocolError(f"{what} has an attribute that does not belong in it")
        if name in attributes:
            raise ProtocolError(f"{what} repeats an attribute")
        values = node.findall(_VALUE)
        if len(values) > MAX_VALUES_PER_ATTRIBUTE:
            raise ProtocolError(f"{what} has an attribute with more than {MAX_VALUES_PER_ATTRIBUTE} values")
        if any(len(text) > MAX_ATTRIBUTE_VALUE_CHARS for value in values for text in value.itertext()):
            raise ProtocolError(f"{what} has an attribute value longer than {MAX_ATTRIBUTE_VALUE_CHARS} characters")
        attributes[name] = node
    return attributes
