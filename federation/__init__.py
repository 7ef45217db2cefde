"""SAML plumbing shared by the hub, the stub identity providers and the stub service.

Nothing here imports Flask except ``federation.web``, so messages, crypto and state can be tested and
reused without a request.
"""
