"""SAML itself: the hardened parser, signatures and encryption, the bindings, metadata, and the messages
(built in ``build``, checked in ``checks``). No Flask here."""
