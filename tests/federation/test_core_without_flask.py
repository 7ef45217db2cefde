"""The protocol core is framework-free: importing it loads no Flask and no werkzeug (only ``federation.web`` is
Flask glue), so it can be tested and reused without a request."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE = [
    "federation.saml.xml",
    "federation.saml.keys",
    "federation.saml.crypto",
    "federation.saml.crypto_xmlsec1",
    "federation.saml.bindings",
    "federation.saml.metadata",
    "federation.saml.build",
    "federation.saml.checks",
    "federation.saml.attributes",
    "federation.verify.loa",
    "federation.verify.mds",
    "federation.verify.cycle3",
    "federation.verify.account_attributes",
    "federation.verify.pairwise",
    "federation.verify.full_profile",
    "federation.config",
    "federation.settings",
    "federation.store",
    "federation.sealing",
    "federation.runtime",
    "federation.errors",
    "federation.metrics",
]


@pytest.mark.parametrize("module", CORE)
def test_importing_a_protocol_module_loads_no_flask(module: str) -> None:
    """In a fresh interpreter: this process has Flask loaded already."""
    program = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug')))"
    loaded = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == "[]", f"{module} loads {loaded}"


APPS = ("hub", "stub_idp", "stub_service", "launcher")


def test_the_federation_package_imports_no_app() -> None:
    """The library never reaches up into an app (hub, the stubs) or the local launcher."""
    program = f"import sys, {', '.join(CORE)}; print(sorted({{m.split('.')[0] for m in sys.modules}} & set({APPS!r})))"
    loaded = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
