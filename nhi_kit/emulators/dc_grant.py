"""The data centre's half of SAM authentication, as the kit's simulator runs it.

See ``SamSession``: the SAM signs the DC's random together with its own
random RS; the DC checks that signature with the SAM's registered public key
and answers with a grant (ECDSA over the SAM id and RS) that the SAM checks.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from broker.cards import commands as cmd
from nhi_kit.emulators.keys import ec_key


def new_dc_random() -> bytes:
    """The DC's challenge for one SAM authentication."""
    return os.urandom(cmd.SAM_CHALLENGE_LENGTH)


def sam_answer_is_valid(
    public_key: rsa.RSAPublicKey,
    sam_id: str,
    dc_random: bytes,
    sam_random: bytes,
    signature: bytes,
) -> bool:
    """Whether ``signature`` is the SAM's answer to ``dc_random``."""
    message = cmd.LABEL_SAM_AUTH + sam_id.encode() + dc_random + sam_random
    try:
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def grant(sam_id: str, sam_random: bytes, key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    """The DC's grant that lets the SAM enter its authenticated state."""
    signer = key if key is not None else ec_key("dc-grant")
    return signer.sign(cmd.LABEL_DC_GRANT + sam_id.encode() + sam_random, ec.ECDSA(hashes.SHA256()))
