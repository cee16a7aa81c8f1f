"""Who calls OSED's APIs: bearer access tokens validated in OSED itself (RFC 9068, RFC 8725)
against an OpenID provider's keys or OSED's own local issuer; docs/identity.md.

- ``validator.py``: :class:`AccessTokenValidator`, the ``TokenValidator`` port's JWT
  implementation, with its :class:`AccessTokenRules`
- ``compact.py``: the token taken apart strictly; ``keys.py``: JWKS keys and the algorithms
  each may verify; ``key_cache.py``: keys by kid, fetched again on an unknown kid (rate-limited)
- ``discovery.py``: an OpenID provider's JWKS through its discovery document
- ``claims.py``: claims to :class:`osed.domain.identity.Principal`
- ``local_keys.py``, ``local_issuer.py``: OSED's own issuer, its key file, rotation, documents
- ``errors.py``: :class:`TokenRefusedError`, an ``AuthenticationError`` with a reason code
"""
