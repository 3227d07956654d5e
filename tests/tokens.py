"""Tokens built by hand, the way an attacker builds them: any header, any claims, any key.

HMAC is computed here with the standard library, so that a blank or short key (which PyJWT
rightly warns about) can still be used to forge a token for the tests.
"""

import base64
import hashlib
import hmac
import json
import time

# A public key an attacker might hope the server trusts (J11: HS256 signed with a public key).
ATTACKER_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAs8xTDcfIe8xF8MP9rvOH
ZkoYQP1ctPH6nUXQetEWE1ggoXzO1kzkebn2vdptJr5+GkomoLJs2nwqOOvNKpT1
TVUC7lh5OOxj5g1IiS6MdQRXzoTLo5WUHIR9YEii/xJQVDVHPzov6OyU/+vyV9qK
D9CobY4hjnP7MHE2ZI/K0xJIiIMCJ2LKupOLuU5SfN7kpOY7NC4JCqcxU4wybHvO
Vk0TnsouT6JGQTt9Q/e/boFu1MDpVzF4Dws2KmZ+WW/u0WP51oQk37MQPzA8yxsV
vuRZOk3MwjeUhR2yeetm2ZE1NIw8bdeYfGo/t3siyMSIAmxAmUou5XJjciipLex2
EwIDAQAB
-----END PUBLIC KEY-----
"""


def b64url(data):
    if not isinstance(data, bytes):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def claims_for(user_id, token_type="access", lifetime=60, **changes):
    now = int(time.time())
    claims = {"sub": str(user_id), "iat": now, "exp": now + lifetime, "jti": f"jti-{now}-{user_id}"}
    claims |= {"type": token_type, **changes}
    return {name: value for name, value in claims.items() if value is not None}


def forge(claims, key, header=None, signature=None):
    """header.payload.signature: HS256 with this key, unless a signature is given."""
    header = {"alg": "HS256", "typ": "JWT"} if header is None else header
    signing_input = f"{b64url(header)}.{b64url(claims)}"
    if signature is None:
        key = key.encode() if isinstance(key, str) else key
        signature = b64url(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())
    return f"{signing_input}.{signature}"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}
