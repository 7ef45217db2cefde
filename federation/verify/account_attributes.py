"""Attributes a relying service receives when it creates an account for a citizen it could not match.

Only what the service asked for in the federation file, taken from the verified matching dataset (and the
cycle 3 answer). Values use the matching dataset's SAML types, so each carries its verified flag and dates.
"""

from __future__ import annotations

from lxml import etree

from federation.config import AccountCreationAttribute
from federation.saml.attributes import attributes_by_name
from federation.saml.xml import q, text_of
from federation.verify.mds import Address, MatchingDataset, Name, attribute_element, text_attribute, value_element

# The simple profile's attributes on every success: the outcome (one of OUTCOMES) and the level's name, so a
# toolkit that wants an AttributeStatement gets one and a service need not parse the AuthnContext.
OUTCOME_ATTRIBUTE = "outcome"
LEVEL_ATTRIBUTE = "level_of_assurance"
OUTCOME_MATCH = "match"
OUTCOME_ACCOUNT_CREATED = "account-created"
RESPONSE_ATTRIBUTE_NAMES = frozenset({OUTCOME_ATTRIBUTE, LEVEL_ATTRIBUTE, *(a.value for a in AccountCreationAttribute)})

_NAMES = {
    AccountCreationAttribute.FIRST_NAME: "first_names",
    AccountCreationAttribute.MIDDLE_NAME: "middle_names",
    AccountCreationAttribute.SURNAME: "surnames",
}


def _current_address(addresses: list[Address]) -> Address | None:
    open_ended = [a for a in addresses if a.to_date is None and a.verified]
    return open_ended[0] if open_ended else None


def _add_address(attribute: etree._Element, address: Address) -> None:
    node = value_element(attribute, "AddressType", address)
    for line in address.lines:
        etree.SubElement(node, q("ida", "Line")).text = line
    if address.postcode:
        etree.SubElement(node, q("ida", "PostCode")).text = address.postcode


def to_attributes(
    requested: list[AccountCreationAttribute], dataset: MatchingDataset, cycle3_value: str | None
) -> list[etree._Element]:
    """The requested attributes from the verified values only: an unverified value is never released."""
    out: list[etree._Element] = []
    for name in requested:
        attribute = attribute_element(name.value)
        if name in _NAMES:
            values: list[Name] = [v for v in getattr(dataset, _NAMES[name]) if v.verified]
            current = dataset.current(values) if values else None
            if current is not None:
                value_element(attribute, "PersonNameType", current).text = current.value
        elif name is AccountCreationAttribute.DATE_OF_BIRTH:
            for dob in [d for d in dataset.dates_of_birth if d.verified][:1]:
                value_element(attribute, "DateType", dob).text = dob.value.isoformat()
        elif name is AccountCreationAttribute.CURRENT_ADDRESS:
            current_address = _current_address(dataset.current_addresses)
            if current_address is not None:
                _add_address(attribute, current_address)
        elif name is AccountCreationAttribute.ADDRESS_HISTORY:
            for address in [a for a in dataset.current_addresses + dataset.previous_addresses if a.verified]:
                _add_address(attribute, address)
        elif name is AccountCreationAttribute.CYCLE_3 and cycle3_value:
            etree.SubElement(attribute, q("saml", "AttributeValue")).text = cycle3_value
        if len(attribute):
            out.append(attribute)
    return out


def to_plain_attributes(
    requested: list[AccountCreationAttribute], dataset: MatchingDataset, cycle3_value: str | None
) -> list[etree._Element]:
    """As ``to_attributes``, but each value plain text (address lines joined), for the simple profile.

    Off-the-shelf toolkits validate responses against the SAML schemas, which do not know the matching
    dataset's ``xsi:type``s (python3-saml's strict mode refuses them). Only verified values are released
    anyway, so nothing is lost but the dates each value held from and to.
    """
    statement = etree.Element(q("saml", "AttributeStatement"))
    statement.extend(to_attributes(requested, dataset, cycle3_value))
    return [text_attribute(name, *values) for name, values in read_attributes(statement).items()]


def read_attributes(statement: etree._Element) -> dict[str, list[str]]:
    """Attribute name → its values as plain text (address lines joined), for a service to show or store.

    Each name at most once and only names the hub sends (``federation.saml.attributes``); ProtocolError otherwise.
    """
    result: dict[str, list[str]] = {}
    for attribute in attributes_by_name(statement, RESPONSE_ATTRIBUTE_NAMES, "attribute statement").values():
        values = []
        for value in attribute.findall(q("saml", "AttributeValue")):
            lines = [text_of(line) for line in value.findall(q("ida", "Line"))]
            postcode = text_of(value.find(q("ida", "PostCode")))
            values.append(", ".join([*lines, postcode] if postcode else lines) if lines else text_of(value))
        result[attribute.get("Name", "")] = values
    return result
