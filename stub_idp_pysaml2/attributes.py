"""The matching dataset in Verify's ``ida`` vocabulary, made by a pysaml2 attribute converter.

pysaml2 turns the identity it is given (attribute name → values) into ``saml:Attribute`` elements through the
converter registered for the policy's name format. Its own converters make plain strings; Verify's values are
typed (``xsi:type="ida:PersonNameType"``) and carry ``ida:Verified``, ``ida:From`` and ``ida:To``, and an
address holds ``ida:Line`` and ``ida:PostCode`` elements. This converter makes those, with pysaml2's own
``AttributeValue`` and ``ExtensionElement``, for the name format ``unspecified``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from saml2 import ExtensionElement, saml
from saml2.attribute_converter import AttributeConverter
from saml2.saml import NAME_FORMAT_UNSPECIFIED

from federation.verify.mds import Address, DateValue, Gender, MatchingDataset, Name
from stub_idp_pysaml2.vocabulary import (
    FRAUD_EVENT_ID,
    GPG45_STATUS,
    IDA_NAMESPACE,
    MDS_CURRENT_ADDRESS,
    MDS_DATE_OF_BIRTH,
    MDS_FIRST_NAME,
    MDS_GENDER,
    MDS_MIDDLE_NAME,
    MDS_PREVIOUS_ADDRESS,
    MDS_SURNAME,
)

Value = str | Name | DateValue | Gender | Address
Identity = dict[str, list[Value]]


def dataset_identity(dataset: MatchingDataset) -> Identity:
    """The matching dataset as the identity pysaml2's ``create_authn_response`` takes, in Verify's order."""
    identity: Identity = {}
    for name, values in (
        (MDS_FIRST_NAME, dataset.first_names),
        (MDS_MIDDLE_NAME, dataset.middle_names),
        (MDS_SURNAME, dataset.surnames),
        (MDS_GENDER, [dataset.gender] if dataset.gender else []),
        (MDS_DATE_OF_BIRTH, dataset.dates_of_birth),
        (MDS_CURRENT_ADDRESS, dataset.current_addresses),
        (MDS_PREVIOUS_ADDRESS, dataset.previous_addresses),
    ):
        if values:
            identity[name] = list(values)
    return identity


def fraud_identity(event_id: str, gpg45_status: str) -> Identity:
    """The two attributes a fraud event's authentication assertion carries."""
    return {FRAUD_EVENT_ID: [event_id], GPG45_STATUS: [gpg45_status]}


def _ida(local: str) -> str:
    return f"{{{IDA_NAMESPACE}}}{local}"


def _typed(ida_type: str, item: Name | DateValue | Gender | Address, children: Sequence[ExtensionElement] = ()) -> Any:
    """An AttributeValue of an ``ida`` type with its verified flag and dates."""
    value = saml.AttributeValue(extension_elements=list(children)) if children else saml.AttributeValue()
    value.set_type(f"ida:{ida_type}")
    attributes = value.extension_attributes
    attributes["xmlns:ida"] = IDA_NAMESPACE  # the prefix the xsi:type value names
    attributes[_ida("Verified")] = "true" if item.verified else "false"
    for name, day in (("From", item.from_date), ("To", item.to_date)):
        if day is not None:
            attributes[_ida(name)] = day.isoformat()
    return value


def _with_text(value: Any, text: str) -> Any:
    value.set_text(text)
    return value


def _address_lines(address: Address) -> list[ExtensionElement]:
    children = [ExtensionElement("Line", namespace=IDA_NAMESPACE, text=line) for line in address.lines]
    for tag, text in (
        ("PostCode", address.postcode),
        ("InternationalPostCode", address.international_postcode),
        ("UPRN", address.uprn),
    ):
        if text:
            children.append(ExtensionElement(tag, namespace=IDA_NAMESPACE, text=text))
    return children


def attribute_value(item: Value) -> Any:
    """One value on the wire: plain text, or typed and dated in the ``ida`` vocabulary."""
    if isinstance(item, str):
        return saml.AttributeValue(text=item)
    if isinstance(item, Name):
        return _with_text(_typed("PersonNameType", item), item.value)
    if isinstance(item, DateValue):
        return _with_text(_typed("DateType", item), item.value.isoformat())
    if isinstance(item, Gender):
        return _with_text(_typed("GenderType", item), item.value)
    return _typed("AddressType", item, _address_lines(item))


class VerifyAttributeConverter(AttributeConverter):  # type: ignore[misc]
    """Identity → ``saml:Attribute`` elements named as Verify names them (no FriendlyName, format unspecified)."""

    def __init__(self) -> None:
        super().__init__(NAME_FORMAT_UNSPECIFIED)

    def to_(self, attrvals: Mapping[str, Iterable[Value]]) -> list[Any]:
        return [
            saml.Attribute(
                name=name,
                name_format=NAME_FORMAT_UNSPECIFIED,
                attribute_value=[attribute_value(item) for item in values],
            )
            for name, values in attrvals.items()
        ]
