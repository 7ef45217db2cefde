"""The Verify profile's words, as docs/protocol.md publishes them for identity providers.

Written out here rather than imported from ``federation``: a certified company builds on the published profile,
not on the hub's code, and a difference between the two is what this stub is for finding.
"""

from __future__ import annotations

from saml2 import samlp

IDA_NAMESPACE = "http://www.cabinetoffice.gov.uk/resource-library/ida/attributes"

_LEVELS = "urn:uk:gov:cabinet-office:tc:saml:authn-context:"
LEVEL_URIS = {"LEVEL_1": f"{_LEVELS}level1", "LEVEL_2": f"{_LEVELS}level2"}
FRAUD_LEVEL_URI = f"{_LEVELS}levelX"

FRAUD_EVENT_ID = "FECI_IDPFraudEventID"
GPG45_STATUS = "FECI_GPG45Status"
GPG45_STATUSES = ("DF01", "FI01", "IT01")  # document fraud, false identity, identity theft

# The matching dataset's attributes, in the order Verify's identity providers sent them.
MDS_FIRST_NAME = "MDS_firstname"
MDS_MIDDLE_NAME = "MDS_middlename"
MDS_SURNAME = "MDS_surname"
MDS_GENDER = "MDS_gender"
MDS_DATE_OF_BIRTH = "MDS_dateofbirth"
MDS_CURRENT_ADDRESS = "MDS_currentaddress"
MDS_PREVIOUS_ADDRESS = "MDS_previousaddress"

# Second-level statuses and the Verify StatusDetail values a non-success Response carries.
STATUS_RESPONDER = samlp.STATUS_RESPONDER
STATUS_REQUESTER = samlp.STATUS_REQUESTER
STATUS_NO_AUTHN_CONTEXT = samlp.STATUS_NO_AUTHN_CONTEXT
STATUS_AUTHN_FAILED = samlp.STATUS_AUTHN_FAILED
STATUS_REQUEST_DENIED = samlp.STATUS_REQUEST_DENIED
DETAIL_AUTHN_CANCEL = "authn-cancel"
DETAIL_LOA_PENDING = "loa-pending"


def level_of(uri: str | None) -> str | None:
    """``LEVEL_1`` or ``LEVEL_2`` for a class reference the hub asked for; None for anything else."""
    return next((level for level, level_uri in LEVEL_URIS.items() if level_uri == uri), None)
