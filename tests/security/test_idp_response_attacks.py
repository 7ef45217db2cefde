"""Forged identity provider Responses (the team's SAML attack catalogue), each posted into a live journey.

Every case captures alice's genuine Response from a real journey, forges it, posts it to the hub's ACS with
the citizen's cookies and asserts the reject oracle: a 4xx page in plain words, no AttributeQuery sent to the
matching service and nothing posted to the relying service. The control case posts the genuine Response and
must succeed, so a hub that refused everything would fail here.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
import xmlsec
from lxml import etree

from federation.saml.crypto import backend_name
from federation.saml.xml import NS, instant, new_id, now, q, to_bytes
from tests.security.conftest import Recorder, check_refused, counts
from tests.security.forge import (
    Captured,
    attacker_key,
    encrypt_content,
    encrypt_with,
    fresh_id,
    resign,
    sign_with,
    strip_signature,
)

Forge = Callable[[Captured, Path], "etree._Element | bytes"]
SAML = NS["saml"]


def _sig(element: etree._Element) -> etree._Element:
    node = element.find(q("ds", "Signature"))
    assert node is not None
    return node


def _sub(parent: etree._Element, path: str) -> etree._Element:
    node = parent.find(path, NS)
    assert node is not None, path
    return node


# ---- 1. signature wrapping -------------------------------------------------------------------------------


def xsw1_original_inside_signature(c: Captured, _: Path) -> etree._Element:
    evil = c.response
    original = strip_signature(copy.deepcopy(evil))
    evil.set("ID", "_evil_response")
    _sig(evil).append(original)
    return evil


def xsw2_original_before_signature(c: Captured, _: Path) -> etree._Element:
    evil = c.response
    original = copy.deepcopy(evil)
    evil.set("ID", "_evil_response")
    _sig(evil).addprevious(original)
    return evil


def xsw7_copy_in_extensions_same_id(c: Captured, _: Path) -> etree._Element:
    response = c.response
    extensions = etree.Element(q("samlp", "Extensions"))
    extensions.append(strip_signature(copy.deepcopy(response)))
    _sub(response, "saml:Issuer").addnext(extensions)
    return response


def xsw9_first_id_match_copy_first(c: Captured, _: Path) -> etree._Element:
    response = c.response
    extensions = etree.Element(q("samlp", "Extensions"))
    response.insert(0, extensions)
    extensions.append(copy.deepcopy(response.find(q("saml", "EncryptedAssertion"))))
    return response


def xsw3_evil_assertion_first(c: Captured, _: Path) -> etree._Element:
    response = c.response
    items = c.assertions(response)
    evil = fresh_id(strip_signature(copy.deepcopy(items[1])))
    return c.rebuild(response, [evil, *items])


def xsw4_signed_assertion_nested_in_evil(c: Captured, _: Path) -> etree._Element:
    response = c.response
    items = c.assertions(response)
    evil = fresh_id(strip_signature(copy.deepcopy(items[1])))
    evil.append(items[1])
    return c.rebuild(response, [items[0], evil])


def xsw5_edited_in_place_original_appended(c: Captured, _: Path) -> etree._Element:
    response = c.response
    items = c.assertions(response)
    original = strip_signature(copy.deepcopy(items[1]))
    items[1].set("ID", "_evil_assertion")
    return c.rebuild(response, [*items, original])


def xsw8_original_in_signature_object(c: Captured, _: Path) -> etree._Element:
    response = c.response
    items = c.assertions(response)
    obj = etree.SubElement(_sig(items[1]), q("ds", "Object"))
    obj.append(strip_signature(copy.deepcopy(items[1])))
    _sub(items[1], "saml:Subject/saml:NameID").text = "evil"
    return c.rebuild(response, items)


def xsw11_stray_digest_value(c: Captured, _: Path) -> etree._Element:
    response = c.response
    extensions = etree.Element(q("samlp", "Extensions"))
    decoy = etree.SubElement(extensions, q("ds", "Reference"), URI=f"#{response.get('ID')}")
    etree.SubElement(decoy, q("ds", "DigestValue")).text = "AAAA"
    _sub(response, "saml:Issuer").addnext(extensions)
    _sub(response, "samlp:Status/samlp:StatusCode").set("Value", "urn:oasis:names:tc:SAML:2.0:status:Success")
    response.set("Destination", response.get("Destination", "") + "?evil")
    return response


def xsw12_two_signed_infos(c: Captured, _: Path) -> etree._Element:
    response = c.response
    signed_info = _sub(response, "ds:Signature/ds:SignedInfo")
    signed_info.addnext(copy.deepcopy(signed_info))
    return response


def xsw12_comment_in_digest_value(c: Captured, _: Path) -> bytes:
    data = to_bytes(c.response)
    return data.replace(b"<ds:DigestValue>", b"<ds:DigestValue><!--x-->", 1)


def xsw13_decoy_with_lowercase_id(c: Captured, _: Path) -> etree._Element:
    response = c.response
    decoy = etree.Element(q("samlp", "Extensions"), Id=response.get("ID", ""))
    _sub(response, "saml:Issuer").addnext(decoy)
    return response


@pytest.mark.parametrize("uri", ["", "#", "foo", "#xpointer(/)"])
def test_void_or_odd_reference_uri_is_refused(captured: Captured, recorder: Recorder, uri: str) -> None:
    before = counts(recorder)
    response = resign(captured.response, captured.idp_key)
    _sub(response, "ds:Signature/ds:SignedInfo/ds:Reference").set("URI", uri)
    check_refused(captured.post(response), recorder, before)


def xsw14_no_enveloped_transform(c: Captured, _: Path) -> etree._Element:
    response = c.response
    transforms = _sub(response, "ds:Signature/ds:SignedInfo/ds:Reference/ds:Transforms")
    transforms.remove(transforms[0])
    return response


def xsw16_signed_assertion_as_the_message(c: Captured, _: Path) -> etree._Element:
    return c.assertions(c.response)[0]


def xsw17_attacker_encrypted_assertion_outside_signature(c: Captured, tmp: Path) -> etree._Element:
    signed = c.response
    evil_items = c.assertions(copy.deepcopy(signed))
    evil = fresh_id(copy.deepcopy(evil_items[1]))
    resign(evil, attacker_key(tmp))
    wrapper = copy.deepcopy(signed)
    wrapper.set("ID", "_evil_response")
    strip_signature(wrapper)
    for node in wrapper.findall(q("saml", "EncryptedAssertion")):
        wrapper.remove(node)
    wrapper.append(signed)
    wrapper.append(c.rebuild(copy.deepcopy(signed), [evil], sign_response=False)[-1])
    return wrapper


def xsw17_unsigned_response_attacker_assertions(c: Captured, tmp: Path) -> etree._Element:
    response = c.response
    items = [resign(fresh_id(item), attacker_key(tmp)) for item in c.assertions(response)]
    return c.rebuild(response, items, sign_response=False)


# ---- 2. signature presence and keys ----------------------------------------------------------------------


def sig01_response_signature_stripped(c: Captured, _: Path) -> etree._Element:
    return strip_signature(c.response)


def sig02_assertion_signature_stripped(c: Captured, _: Path) -> etree._Element:
    response = c.response
    items = c.assertions(response)
    strip_signature(items[1])
    return c.rebuild(response, items)


def sig04_empty_signature(c: Captured, _: Path) -> etree._Element:
    response = strip_signature(c.response)
    _sub(response, "saml:Issuer").addnext(etree.Element(q("ds", "Signature"), nsmap={"ds": NS["ds"]}))
    return response


def sig05_attacker_key_in_key_info(c: Captured, tmp: Path) -> etree._Element:
    return resign(c.response, attacker_key(tmp))


def sig09_signed_by_another_trusted_idp(c: Captured, _: Path) -> etree._Element:
    return resign(c.response, c.key("stub-idp-two-signing.crt"))


def sig10_two_signatures(c: Captured, _: Path) -> etree._Element:
    response = c.response
    _sig(response).addnext(copy.deepcopy(_sig(response)))
    return response


# ---- 3/4. canonicalisation and the parser ---------------------------------------------------------------


def pi_instead_of_comment(c: Captured, _: Path) -> bytes:
    return to_bytes(c.response).replace(b"<saml:Issuer>", b"<saml:Issuer><?evil x?>", 1)


def xxe_local_file(c: Captured, _: Path) -> bytes:
    body = to_bytes(c.response).replace(b"<saml:Issuer>", b"<saml:Issuer>&xxe;", 1)
    return b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + body


def billion_laughs(c: Captured, _: Path) -> bytes:
    entities = '<!ENTITY a0 "lol">' + "".join(
        f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    )
    body = to_bytes(c.response).replace(b"<saml:Issuer>", b"<saml:Issuer>&a9;", 1)
    return f"<!DOCTYPE r [{entities}]>".encode() + body


def external_dtd(c: Captured, _: Path) -> bytes:
    return b'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">' + to_bytes(c.response)


def xinclude(c: Captured, _: Path) -> etree._Element:
    response = c.response
    include = etree.Element("{http://www.w3.org/2001/XInclude}include", href="file:///etc/passwd", parse="text")
    _sub(response, "saml:Issuer").addnext(include)
    return response


def deep_nesting(c: Captured, _: Path) -> bytes:
    return to_bytes(c.response).replace(b"</saml:Issuer>", b"</saml:Issuer>" + b"<x>" * 5000 + b"</x>" * 5000, 1)


def oversized(c: Captured, _: Path) -> bytes:
    return to_bytes(c.response).replace(b"</saml:Issuer>", b"</saml:Issuer><x>" + b"A" * 400_000 + b"</x>", 1)


# ---- 5. validly signed, wrong meaning (the IDP's own key, so only the semantic check stands) ------------


def _response_edit(edit: Callable[[etree._Element], None]) -> Forge:
    def forge(c: Captured, _: Path) -> etree._Element:
        response = c.response
        edit(response)
        return resign(response, c.idp_key)

    forge.__name__ = edit.__name__
    return forge


def _assertion_edit(edit: Callable[[etree._Element], None], which: str = "both") -> Forge:
    def forge(c: Captured, _: Path) -> etree._Element:
        return c.edit_assertions(edit, which=which)

    forge.__name__ = edit.__name__
    return forge


def _scd(assertion: etree._Element) -> etree._Element:
    return _sub(assertion, "saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData")


def _set(path: str, attribute: str, value: str | None) -> Callable[[etree._Element], None]:
    def edit(element: etree._Element) -> None:
        node = element if path == "." else _sub(element, path)
        if value is None:
            node.attrib.pop(attribute, None)
        else:
            node.set(attribute, value)

    edit.__name__ = f"{attribute}_{value}"
    return edit


SCD = "saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData"
PAST = instant(now() - dt.timedelta(hours=2))
FAR_FUTURE = instant(now() + dt.timedelta(hours=5))


def in_response_to_absent(r: etree._Element) -> None:
    del r.attrib["InResponseTo"]


def in_response_to_unknown(r: etree._Element) -> None:
    r.set("InResponseTo", new_id())


def destination_absent(r: etree._Element) -> None:
    del r.attrib["Destination"]


def destination_other(r: etree._Element) -> None:
    r.set("Destination", r.get("Destination", "") + "/")


def issue_instant_old(r: etree._Element) -> None:
    r.set("IssueInstant", instant(now() - dt.timedelta(hours=20)))


def issue_instant_future(r: etree._Element) -> None:
    r.set("IssueInstant", instant(now() + dt.timedelta(hours=2)))


def version_1_1(r: etree._Element) -> None:
    r.set("Version", "1.1")


def version_padded(r: etree._Element) -> None:
    r.set("Version", "2.0 ")


def responder_with_assertions(r: etree._Element) -> None:
    _sub(r, "samlp:Status/samlp:StatusCode").set("Value", "urn:oasis:names:tc:SAML:2.0:status:Responder")


def success_without_assertions(r: etree._Element) -> None:
    for node in r.findall(q("saml", "EncryptedAssertion")):
        r.remove(node)


def status_absent(r: etree._Element) -> None:
    r.remove(_sub(r, "samlp:Status"))


def status_unknown(r: etree._Element) -> None:
    _sub(r, "samlp:Status/samlp:StatusCode").set("Value", "urn:example:status:Maybe")


def status_nested_too_deep(r: etree._Element) -> None:
    code = _sub(r, "samlp:Status/samlp:StatusCode")
    code.set("Value", "urn:oasis:names:tc:SAML:2.0:status:Responder")
    for node in r.findall(q("saml", "EncryptedAssertion")):
        r.remove(node)
    inner = etree.SubElement(code, q("samlp", "StatusCode"), Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed")
    etree.SubElement(inner, q("samlp", "StatusCode"), Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed")


def issuer_absent(r: etree._Element) -> None:
    r.remove(_sub(r, "saml:Issuer"))


def issuer_format_not_entity(r: etree._Element) -> None:
    _sub(r, "saml:Issuer").set("Format", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")


def response_id_equals_assertion_id(r: etree._Element) -> None:
    r.set("ID", "_same")


def plaintext_assertion_in_extensions(r: etree._Element) -> None:
    extensions = etree.Element(q("samlp", "Extensions"))
    etree.SubElement(extensions, q("saml", "Assertion"), ID=new_id(), Version="2.0")
    _sub(r, "saml:Issuer").addnext(extensions)


def scd_in_response_to_other(a: etree._Element) -> None:
    _scd(a).set("InResponseTo", new_id())


def scd_not_on_or_after_absent(a: etree._Element) -> None:
    del _scd(a).attrib["NotOnOrAfter"]


def scd_not_on_or_after_past(a: etree._Element) -> None:
    _scd(a).set("NotOnOrAfter", PAST)


def scd_not_on_or_after_far_future(a: etree._Element) -> None:
    _scd(a).set("NotOnOrAfter", FAR_FUTURE)


def scd_not_before_present(a: etree._Element) -> None:
    _scd(a).set("NotBefore", instant(now()))


def recipient_other(a: etree._Element) -> None:
    _scd(a).set("Recipient", "https://attacker.example/acs")


def audience_restriction_absent(a: etree._Element) -> None:
    conditions = _sub(a, "saml:Conditions")
    conditions.remove(_sub(conditions, "saml:AudienceRestriction"))


def audience_other(a: etree._Element) -> None:
    _sub(a, "saml:Conditions/saml:AudienceRestriction/saml:Audience").text = "https://other-sp.example"


def second_audience_restriction_for_another(a: etree._Element) -> None:
    conditions = _sub(a, "saml:Conditions")
    restriction = etree.SubElement(conditions, q("saml", "AudienceRestriction"))
    etree.SubElement(restriction, q("saml", "Audience")).text = "https://other-sp.example"


def conditions_not_yet_valid(a: etree._Element) -> None:
    _sub(a, "saml:Conditions").set("NotBefore", FAR_FUTURE)


def conditions_expired(a: etree._Element) -> None:
    _sub(a, "saml:Conditions").set("NotOnOrAfter", PAST)


def unknown_condition(a: etree._Element) -> None:
    etree.SubElement(_sub(a, "saml:Conditions"), q("saml", "ProxyRestriction"), Count="0")


def sender_vouches(a: etree._Element) -> None:
    _sub(a, "saml:Subject/saml:SubjectConfirmation").set("Method", "urn:oasis:names:tc:SAML:2.0:cm:sender-vouches")


def name_id_empty(a: etree._Element) -> None:
    _sub(a, "saml:Subject/saml:NameID").text = ""


def name_id_transient(a: etree._Element) -> None:
    _sub(a, "saml:Subject/saml:NameID").set("Format", "urn:oasis:names:tc:SAML:2.0:nameid-format:transient")


def name_id_qualified_for_another(a: etree._Element) -> None:
    _sub(a, "saml:Subject/saml:NameID").set("SPNameQualifier", "https://other-sp.example")


def different_name_ids(a: etree._Element) -> None:
    _sub(a, "saml:Subject/saml:NameID").text = "someone-else"


def two_authn_statements(a: etree._Element) -> None:
    statement = _sub(a, "saml:AuthnStatement")
    statement.addnext(copy.deepcopy(statement))


def decl_ref_alongside_class_ref(a: etree._Element) -> None:
    etree.SubElement(_sub(a, "saml:AuthnStatement/saml:AuthnContext"), q("saml", "AuthnContextDeclRef")).text = "x"


def assertion_issuer_another_idp(a: etree._Element) -> None:
    _sub(a, "saml:Issuer").text = a.findtext(q("saml", "Issuer"), "").replace("stub-idp-one", "stub-idp-two")


def assertion_in_advice(a: etree._Element) -> None:
    advice = etree.Element(q("saml", "Advice"))
    etree.SubElement(advice, q("saml", "Assertion"), ID=new_id(), Version="2.0")
    _sub(a, "saml:Conditions").addnext(advice)


def assertion_issued_long_ago(a: etree._Element) -> None:
    a.set("IssueInstant", instant(now() - dt.timedelta(hours=3)))


def authn_request_at_the_acs(c: Captured, _: Path) -> etree._Element:
    from tests.factories import service_authn_request

    return service_authn_request(c.live.federation)


def one_assertion(c: Captured, _: Path) -> etree._Element:
    response = c.response
    return c.rebuild(response, c.assertions(response)[:1])


def three_assertions(c: Captured, _: Path) -> etree._Element:
    response = c.response
    items = c.assertions(response)
    extra = resign(fresh_id(copy.deepcopy(items[1])), c.idp_key)
    return c.rebuild(response, [*items, extra])


def plaintext_assertions(c: Captured, _: Path) -> etree._Element:
    response = c.response
    return c.rebuild(response, c.assertions(response), encrypt=False)


def response_from_another_idp(c: Captured, _: Path) -> etree._Element:
    """FED-01: IDP Two answers the request the hub sent to IDP One, with IDP Two's own key."""
    other = c.key("stub-idp-two-signing.crt")
    response = c.response
    items = c.assertions(response)
    for element in [response, *items]:
        issuer = _sub(element, "saml:Issuer")
        issuer.text = (issuer.text or "").replace("stub-idp-one", "stub-idp-two")
    for item in items:
        resign(item, other)
    return c.rebuild(response, items, signer=other)


def assertions_from_two_idps(c: Captured, _: Path) -> etree._Element:
    """FED-06: the matching dataset from IDP Two bundled with IDP One's authentication."""
    other = c.key("stub-idp-two-signing.crt")
    response = c.response
    items = c.assertions(response)
    mds = next(i for i in items if i.find(q("saml", "AuthnStatement")) is None)
    issuer = _sub(mds, "saml:Issuer")
    issuer.text = (issuer.text or "").replace("stub-idp-one", "stub-idp-two")
    resign(mds, other)
    return c.rebuild(response, items)


# ---- 6. algorithms and encryption ------------------------------------------------------------------------


def rsa_sha1_signature(c: Captured, _: Path) -> etree._Element:
    return sign_with(strip_signature(c.response), c.idp_key, xmlsec.Transform.RSA_SHA1, xmlsec.Transform.SHA256)


def sha1_digest(c: Captured, _: Path) -> etree._Element:
    return sign_with(strip_signature(c.response), c.idp_key, xmlsec.Transform.RSA_SHA256, xmlsec.Transform.SHA1)


def md5_digest(c: Captured, _: Path) -> etree._Element:
    return sign_with(strip_signature(c.response), c.idp_key, xmlsec.Transform.RSA_SHA256, xmlsec.Transform.MD5)


def _reencrypt(content: int, transport: int) -> Forge:
    def forge(c: Captured, _: Path) -> etree._Element:
        response = c.response
        items = c.assertions(response)
        for node in response.findall(q("saml", "EncryptedAssertion")):
            response.remove(node)
        for item in items:
            response.append(encrypt_with(item, c.live.federation.cert("hub-encryption.crt").pem, content, transport))
        return resign(response, c.idp_key)

    return forge


def cipher_reference(c: Captured, _: Path) -> etree._Element:
    response = c.response
    for cipher_data in response.iter(q("xenc", "CipherData")):
        value = cipher_data.find(q("xenc", "CipherValue"))
        if value is not None:
            cipher_data.remove(value)
            etree.SubElement(cipher_data, q("xenc", "CipherReference"), URI="file:///etc/passwd")
            break
    return resign(response, c.idp_key)


# ---- 7. found by the outside review: repeated attributes, bundled plaintext, sizes, time, exact vocabulary --


def _statement(assertion: etree._Element) -> etree._Element:
    return _sub(assertion, "saml:AttributeStatement")


def _attribute(assertion: etree._Element, name: str) -> etree._Element:
    found = [a for a in _statement(assertion).findall(q("saml", "Attribute")) if a.get("Name") == name]
    assert len(found) == 1, name
    return found[0]


def _victims_copy(name: str, first: bool) -> Callable[[etree._Element], None]:
    """A second copy of ``name`` holding a victim's value: the IDP-signed identity swap."""

    def edit(a: etree._Element) -> None:
        genuine = _attribute(a, name)
        victim = copy.deepcopy(genuine)
        for value in victim.findall(q("saml", "AttributeValue")):
            value.text = "1970-01-01" if name == "MDS_dateofbirth" else "Victim"
        if first:
            genuine.addprevious(victim)
        else:
            genuine.addnext(victim)

    edit.__name__ = f"{name}_repeated_victim_{'first' if first else 'last'}"
    return edit


def mds_attribute_in_authn_assertion(a: etree._Element) -> None:
    statement = etree.SubElement(a, q("saml", "AttributeStatement"))
    etree.SubElement(
        etree.SubElement(statement, q("saml", "Attribute"), Name="MDS_surname"), q("saml", "AttributeValue")
    ).text = "Victim"


def fraud_attribute_in_matching_assertion(a: etree._Element) -> None:
    attribute = etree.SubElement(_statement(a), q("saml", "Attribute"), Name="FECI_IDPFraudEventID")
    etree.SubElement(attribute, q("saml", "AttributeValue")).text = "fraud-1"


def fraud_event_attribute_repeated(a: etree._Element) -> None:
    _sub(
        a, "saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef"
    ).text = "urn:uk:gov:cabinet-office:tc:saml:authn-context:levelX"
    statement = etree.SubElement(a, q("saml", "AttributeStatement"))
    for name, value in (("FECI_IDPFraudEventID", "e-1"), ("FECI_GPG45Status", "DF01"), ("FECI_IDPFraudEventID", "e-2")):
        etree.SubElement(
            etree.SubElement(statement, q("saml", "Attribute"), Name=name), q("saml", "AttributeValue")
        ).text = value


def encrypted_attribute_in_dataset(a: etree._Element) -> None:
    etree.SubElement(_statement(a), q("saml", "EncryptedAttribute"))


def address_line_of_64_kib(a: etree._Element) -> None:
    line = a.find(f".//{q('ida', 'Line')}")
    assert line is not None
    line.text = "A" * 65536


def name_id_of_300_characters(a: etree._Element) -> None:
    _sub(a, "saml:Subject/saml:NameID").text = "n" * 300


def assertion_id_of_8_kib(a: etree._Element) -> None:
    a.set("ID", "_" + "a" * 8192)


def assertion_id_not_an_ncname(a: etree._Element) -> None:
    a.set("ID", "1-starts-with-a-digit")


def issuer_of_2000_characters(a: etree._Element) -> None:
    _sub(a, "saml:Issuer").text = "https://idp.example/" + "i" * 2000


def authn_instant_30_days_old(a: etree._Element) -> None:
    _sub(a, "saml:AuthnStatement").set("AuthnInstant", instant(now() - dt.timedelta(days=30)))


def authn_instant_in_the_future(a: etree._Element) -> None:
    _sub(a, "saml:AuthnStatement").set("AuthnInstant", instant(now() + dt.timedelta(hours=1)))


def session_not_on_or_after_in_the_past(a: etree._Element) -> None:
    _sub(a, "saml:AuthnStatement").set("SessionNotOnOrAfter", instant(now() - dt.timedelta(minutes=10)))


def class_ref_with_whitespace(a: etree._Element) -> None:
    ref = _sub(a, "saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef")
    ref.text = f"  {ref.text}\n"


def audience_with_whitespace(a: etree._Element) -> None:
    audience = _sub(a, "saml:Conditions/saml:AudienceRestriction/saml:Audience")
    audience.text = f" {audience.text} "


def issuer_with_whitespace(a: etree._Element) -> None:
    issuer = _sub(a, "saml:Issuer")
    issuer.text = f"{issuer.text} "


def response_id_of_64_kib(r: etree._Element) -> None:
    r.set("ID", "_" + "r" * 65536)


def response_id_not_an_ncname(r: etree._Element) -> None:
    r.set("ID", "9-starts-with-a-digit")


def _two_in_one(as_type: str) -> Forge:
    def forge(c: Captured, tmp: Path) -> etree._Element:
        return two_assertions_in_one_encrypted_assertion(c, tmp, as_type)

    return forge


def two_assertions_in_one_encrypted_assertion(c: Captured, _: Path, as_type: str) -> etree._Element:
    """The matching dataset's EncryptedAssertion decrypts to a victim's copy and the genuine assertion (both
    signed with the IDP's key): a reader that takes the first and drops the rest is handed the victim.

    ``as_type``: the EncryptedData's Type, Content as made, or Element (not covered by the cipher's integrity)."""
    response = c.response
    items = c.assertions(response)
    authn = next(i for i in items if i.find(q("saml", "AuthnStatement")) is not None)
    matching = next(i for i in items if i.find(q("saml", "AuthnStatement")) is None)
    victim = fresh_id(copy.deepcopy(matching))
    _sub(victim, "saml:AttributeStatement/saml:Attribute/saml:AttributeValue").text = "Victim"
    resign(victim, c.idp_key)
    for node in response.findall(q("saml", "EncryptedAssertion")):
        response.remove(node)
    hub_cert = c.live.federation.cert("hub-encryption.crt").pem
    response.append(encrypt_with(authn, hub_cert, xmlsec.Transform.AES256_GCM, xmlsec.Transform.RSA_OAEP))
    encrypted = encrypt_content(victim, matching, hub_cert)
    encrypted[0].set("Type", f"http://www.w3.org/2001/04/xmlenc#{as_type}")
    response.append(encrypted)
    return resign(response, c.idp_key)


REVIEW_FORGERIES: dict[str, Forge] = {
    "two_assertions_in_one_encrypted_assertion_as_content": _two_in_one("Content"),
    "two_assertions_in_one_encrypted_assertion_as_element": _two_in_one("Element"),
    "enc_aes256_cbc_content_by_default": _reencrypt(xmlsec.Transform.AES256, xmlsec.Transform.RSA_OAEP),
    "enc_aes128_cbc_content_by_default": _reencrypt(xmlsec.Transform.AES128, xmlsec.Transform.RSA_OAEP),
    **{
        f"response_{edit.__name__}": _response_edit(edit) for edit in [response_id_of_64_kib, response_id_not_an_ncname]
    },
    **{
        f"matching_{edit.__name__}": _assertion_edit(edit, which="matching")
        for edit in [
            _victims_copy("MDS_surname", first=False),
            _victims_copy("MDS_surname", first=True),
            _victims_copy("MDS_dateofbirth", first=False),
            _victims_copy("MDS_firstname", first=True),
            fraud_attribute_in_matching_assertion,
            encrypted_attribute_in_dataset,
            address_line_of_64_kib,
        ]
    },
    **{
        f"authn_{edit.__name__}": _assertion_edit(edit, which="authn")
        for edit in [
            mds_attribute_in_authn_assertion,
            fraud_event_attribute_repeated,
            authn_instant_30_days_old,
            authn_instant_in_the_future,
            session_not_on_or_after_in_the_past,
            class_ref_with_whitespace,
        ]
    },
    **{
        f"assertion_{edit.__name__}": _assertion_edit(edit)
        for edit in [
            name_id_of_300_characters,
            assertion_id_of_8_kib,
            assertion_id_not_an_ncname,
            issuer_of_2000_characters,
            audience_with_whitespace,
            issuer_with_whitespace,
        ]
    },
}


FORGERIES: dict[str, Forge] = {
    f.__name__: f
    for f in [
        xsw1_original_inside_signature,
        xsw2_original_before_signature,
        xsw7_copy_in_extensions_same_id,
        xsw9_first_id_match_copy_first,
        xsw3_evil_assertion_first,
        xsw4_signed_assertion_nested_in_evil,
        xsw5_edited_in_place_original_appended,
        xsw8_original_in_signature_object,
        xsw11_stray_digest_value,
        xsw12_two_signed_infos,
        xsw12_comment_in_digest_value,
        xsw13_decoy_with_lowercase_id,
        xsw14_no_enveloped_transform,
        xsw16_signed_assertion_as_the_message,
        xsw17_attacker_encrypted_assertion_outside_signature,
        xsw17_unsigned_response_attacker_assertions,
        sig01_response_signature_stripped,
        sig02_assertion_signature_stripped,
        sig04_empty_signature,
        sig05_attacker_key_in_key_info,
        sig09_signed_by_another_trusted_idp,
        sig10_two_signatures,
        pi_instead_of_comment,
        xxe_local_file,
        billion_laughs,
        external_dtd,
        xinclude,
        deep_nesting,
        oversized,
        authn_request_at_the_acs,
        one_assertion,
        three_assertions,
        plaintext_assertions,
        response_from_another_idp,
        assertions_from_two_idps,
        rsa_sha1_signature,
        sha1_digest,
        md5_digest,
        cipher_reference,
    ]
}
FORGERIES.update(
    {
        f"response_{edit.__name__}": _response_edit(edit)
        for edit in [
            in_response_to_absent,
            in_response_to_unknown,
            destination_absent,
            destination_other,
            issue_instant_old,
            issue_instant_future,
            version_1_1,
            version_padded,
            responder_with_assertions,
            success_without_assertions,
            status_absent,
            status_unknown,
            status_nested_too_deep,
            issuer_absent,
            issuer_format_not_entity,
            plaintext_assertion_in_extensions,
        ]
    }
)
FORGERIES.update(
    {
        f"assertion_{edit.__name__}": _assertion_edit(edit)
        for edit in [
            scd_in_response_to_other,
            scd_not_on_or_after_absent,
            scd_not_on_or_after_past,
            scd_not_on_or_after_far_future,
            scd_not_before_present,
            recipient_other,
            audience_restriction_absent,
            audience_other,
            second_audience_restriction_for_another,
            conditions_not_yet_valid,
            conditions_expired,
            unknown_condition,
            sender_vouches,
            name_id_empty,
            name_id_transient,
            name_id_qualified_for_another,
            assertion_issuer_another_idp,
            assertion_in_advice,
            assertion_issued_long_ago,
        ]
    }
)
FORGERIES["assertion_different_name_ids"] = _assertion_edit(different_name_ids, which="matching")
FORGERIES["assertion_two_authn_statements"] = _assertion_edit(two_authn_statements, which="authn")
FORGERIES["assertion_decl_ref_alongside_class_ref"] = _assertion_edit(decl_ref_alongside_class_ref, which="authn")
FORGERIES["enc_rsa_1_5_key_transport"] = _reencrypt(xmlsec.Transform.AES128_GCM, xmlsec.Transform.RSA_PKCS1)
FORGERIES["enc_3des_content"] = _reencrypt(xmlsec.Transform.DES3, xmlsec.Transform.RSA_OAEP)
FORGERIES.update(REVIEW_FORGERIES)


def test_genuine_response_is_accepted(captured: Captured, recorder: Recorder, crypto_backend: str) -> None:
    """The control: without it, a hub that refused everything would pass every case below. (Each case's journey
    to the ACS ran in process, capture() says why; what is posted is checked with the run's backend.)"""
    assert backend_name() == crypto_backend
    before = counts(recorder)
    response = captured.post(captured.response)
    assert response.status_code == 200 and response.url.endswith("/response-processing")
    citizen = captured.journey.citizen
    final = citizen.wait(citizen.page(response))
    assert final.form("#saml-form")["action"].endswith("/check-your-paye-tax/SAML2/SSO/Response/POST")
    assert counts(recorder)[0] == before[0] + 1


def test_response_id_equal_to_an_assertion_id_is_refused(captured: Captured, recorder: Recorder) -> None:
    before = counts(recorder)
    response = captured.response
    items = captured.assertions(response)
    response.set("ID", items[0].get("ID", ""))
    check_refused(captured.post(captured.rebuild(response, items)), recorder, before)


@pytest.mark.parametrize("case", sorted(FORGERIES))
def test_forged_response_is_refused(captured: Captured, recorder: Recorder, tmp_path: Path, case: str) -> None:
    before = counts(recorder)
    forged = FORGERIES[case](captured, tmp_path)
    check_refused(captured.post(forged), recorder, before)
    # The journey was not moved on: the hub is not matching anyone, and nothing is on its way to the service.
    after = captured.journey.citizen.get(captured.live.urls["hub"] + "/response-processing")
    assert after.soup.select_one("#saml-form") is None
    assert after.soup.select_one("h1") is None or after.h1 != "We are checking your details"


@pytest.mark.parametrize("order", ["genuine-first", "genuine-last"])
def test_a_saml_response_sent_twice_is_refused(captured: Captured, recorder: Recorder, order: str) -> None:
    """Which copy a reader takes is a guess: the review's hub took the first. Both orders are refused."""
    before = counts(recorder)
    genuine = base64.b64encode(to_bytes(captured.response)).decode()
    other = base64.b64encode(
        to_bytes(FORGERIES["matching_MDS_surname_repeated_victim_last"](captured, Path()))
    ).decode()
    fields = [("SAMLResponse", genuine), ("SAMLResponse", other)]
    http = captured.journey.citizen.http
    response = http.post(captured.hub_acs, data=fields if order == "genuine-first" else fields[::-1], timeout=30)
    check_refused(response, recorder, before)
    # The genuine Response alone still works: the journey was left as it was.
    assert captured.post(captured.response).status_code == 200
