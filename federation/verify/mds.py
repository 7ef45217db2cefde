"""The matching dataset: what an identity provider verified about a person, with history.

It travels as SAML attributes in GOV.UK Verify's ``ida`` vocabulary (``MDS_firstname`` and so on); every
value carries whether it was verified and the dates it held from and to.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from federation.errors import InvalidSamlMessageError
from federation.saml.attributes import attributes_by_name
from federation.saml.xml import ATTRNAME_UNSPECIFIED, NS, q, text_of


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    verified: bool = True
    from_date: dt.date | None = Field(default=None, alias="from")
    to_date: dt.date | None = Field(default=None, alias="to")


class Name(_Value):
    value: str = Field(min_length=1, max_length=200)


class DateValue(_Value):
    value: dt.date


class Gender(_Value):
    value: Literal["FEMALE", "MALE", "NOT_SPECIFIED"]


class Address(_Value):
    lines: list[Annotated[str, Field(max_length=200)]] = Field(min_length=1, max_length=10)
    postcode: str | None = Field(default=None, max_length=20)
    international_postcode: str | None = Field(default=None, max_length=20)
    uprn: str | None = Field(default=None, max_length=20)


class MatchingDataset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    first_names: list[Name] = Field(min_length=1)
    middle_names: list[Name] = Field(default_factory=list)
    surnames: list[Name] = Field(min_length=1)
    dates_of_birth: list[DateValue] = Field(min_length=1)
    gender: Gender | None = None
    current_addresses: list[Address] = Field(default_factory=list)
    previous_addresses: list[Address] = Field(default_factory=list)

    def current(self, values: list[Name]) -> Name | None:
        """The value with no end date, verified first: how Verify's matching service chose 'current'."""
        open_ended = [v for v in values if v.to_date is None] or values
        return sorted(open_ended, key=lambda v: not v.verified)[0] if open_ended else None


_NAME_ATTRIBUTES = {
    "MDS_firstname": "first_names",
    "MDS_middlename": "middle_names",
    "MDS_surname": "surnames",
}
_ADDRESS_ATTRIBUTES = {"MDS_currentaddress": "current_addresses", "MDS_previousaddress": "previous_addresses"}
MDS_ATTRIBUTE_NAMES = frozenset({*_NAME_ATTRIBUTES, *_ADDRESS_ATTRIBUTES, "MDS_dateofbirth", "MDS_gender"})
_XSI_TYPE = q("xsi", "type")


def attribute_element(name: str) -> etree._Element:
    return etree.Element(q("saml", "Attribute"), Name=name, NameFormat=ATTRNAME_UNSPECIFIED)


def text_attribute(name: str, *values: str) -> etree._Element:
    """An attribute with plain-text values."""
    attribute = attribute_element(name)
    for value in values:
        etree.SubElement(attribute, q("saml", "AttributeValue")).text = value
    return attribute


def value_element(attribute: etree._Element, xsi_type: str, item: _Value) -> etree._Element:
    node = etree.SubElement(attribute, q("saml", "AttributeValue"), nsmap={"ida": NS["ida"], "xsi": NS["xsi"]})
    node.set(_XSI_TYPE, f"ida:{xsi_type}")
    node.set(q("ida", "Verified"), "true" if item.verified else "false")
    if item.from_date:
        node.set(q("ida", "From"), item.from_date.isoformat())
    if item.to_date:
        node.set(q("ida", "To"), item.to_date.isoformat())
    return node


def to_attributes(mds: MatchingDataset) -> list[etree._Element]:
    """The dataset as ``saml:Attribute`` elements, in Verify's order."""
    attributes: list[etree._Element] = []
    for name, field in _NAME_ATTRIBUTES.items():
        values: list[Name] = getattr(mds, field)
        if values:
            attribute = attribute_element(name)
            for item in values:
                value_element(attribute, "PersonNameType", item).text = item.value
            attributes.append(attribute)
    if mds.gender:
        attribute = attribute_element("MDS_gender")
        value_element(attribute, "GenderType", mds.gender).text = mds.gender.value
        attributes.append(attribute)
    attribute = attribute_element("MDS_dateofbirth")
    for dob in mds.dates_of_birth:
        value_element(attribute, "DateType", dob).text = dob.value.isoformat()
    attributes.append(attribute)
    for name, field in _ADDRESS_ATTRIBUTES.items():
        addresses: list[Address] = getattr(mds, field)
        if addresses:
            attribute = attribute_element(name)
            for address in addresses:
                node = value_element(attribute, "AddressType", address)
                for line in address.lines:
                    etree.SubElement(node, q("ida", "Line")).text = line
                for tag, text in (
                    ("PostCode", address.postcode),
                    ("InternationalPostCode", address.international_postcode),
                    ("UPRN", address.uprn),
                ):
                    if text:
                        etree.SubElement(node, q("ida", tag)).text = text
            attributes.append(attribute)
    return attributes


def _dates(node: etree._Element) -> dict[str, object]:
    return {
        "verified": node.get(q("ida", "Verified"), "false") == "true",
        "from": node.get(q("ida", "From")),
        "to": node.get(q("ida", "To")),
    }


def from_attribute_statement(statement: etree._Element) -> MatchingDataset:
    """Read a dataset from a ``saml:AttributeStatement``.

    Anything outside the MDS vocabulary, and any attribute named twice, is refused (``federation.saml.attributes``):
    a dataset that carried a genuine surname and a victim's could otherwise be read as either.
    """
    data: dict[str, object] = {}
    for name, attribute in attributes_by_name(statement, MDS_ATTRIBUTE_NAMES, "matching dataset").items():
        values = attribute.findall(q("saml", "AttributeValue"))
        if name in _NAME_ATTRIBUTES:
            data[_NAME_ATTRIBUTES[name]] = [{**_dates(v), "value": text_of(v)} for v in values]
        elif name == "MDS_dateofbirth":
            data["dates_of_birth"] = [{**_dates(v), "value": text_of(v)} for v in values]
        elif name == "MDS_gender":
            if len(values) != 1:
                raise InvalidSamlMessageError("matching dataset must hold one gender value")
            data["gender"] = {**_dates(values[0]), "value": text_of(values[0])}
        else:
            data[_ADDRESS_ATTRIBUTES[name]] = [
                {
                    **_dates(v),
                    "lines": [text_of(line) for line in v.findall(q("ida", "Line"))],
                    "postcode": text_of(v.find(q("ida", "PostCode"))) or None,
                    "international_postcode": text_of(v.find(q("ida", "InternationalPostCode"))) or None,
                    "uprn": text_of(v.find(q("ida", "UPRN"))) or None,
                }
                for v in values
            ]
    try:
        return MatchingDataset.model_validate(data)
    except ValidationError as exc:
        # The pydantic message can quote values (personal data): keep only where it failed.
        fields = ", ".join(sorted({str(err["loc"][0]) for err in exc.errors()}))
        raise InvalidSamlMessageError(f"matching dataset is incomplete or malformed in: {fields}") from None
