"""Signing people in through the organisation's OpenID Connect provider.

``provider.OidcProvider`` speaks to the provider (discovery, the JWKS, the token
endpoint) through the same outbound checks as every request the service makes
(``receiver.fetching``), builds the authorization URL (code flow with PKCE S256,
``state`` and ``nonce``) and verifies the ID token; Authlib and its JOSE library
(joserfc) do the protocol, this package only configures them. ``roles`` maps the
token's groups to the console's roles: pure functions, no I/O.
"""
