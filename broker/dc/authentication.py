"""Conversations that need both a card and the data centre."""

from __future__ import annotations

from typing import Protocol

from cryptography.hazmat.primitives.serialization import Encoding

from broker.cards.hpc import HpcSession
from broker.cards.records import SamIdentity
from broker.dc.client import DcClient
from broker.dc.records import DcSession, HcaHolder


class SamDc(Protocol):
    """The DC's side of SAM authentication (a ``DcClient``, or one whose calls are watched)."""

    def sam_challenge(self, sam_id: str) -> bytes:
        """The DC's random."""
        ...

    def sam_authenticate(
        self, sam_id: str, dc_random: bytes, sam_random: bytes, signature: bytes
    ) -> DcSession:
        """The SAM's answer → a session and the grant."""
        ...


class SamDcSide(Protocol):
    """The SAM's verbs in DC authentication (a ``SamSession``, or one across actors)."""

    def identity(self) -> SamIdentity:
        """The SAM's ids."""
        ...

    def dc_challenge(self) -> bytes:
        """RS."""
        ...

    def answer_dc(self, dc_random: bytes) -> bytes:
        """The SAM's signature."""
        ...

    def accept_grant(self, grant: bytes) -> None:
        """Enter the authenticated state."""
        ...


def authenticate_sam(client: SamDc, sam: SamDcSide) -> DcSession:
    """Bring a SAM to its authenticated state (mode 2) with the DC; the DC session.

    Never called by the broker on its own for a physical SAM: a SAM locks
    after repeated failures (docs/cards.md).
    """
    sam_id = sam.identity().sam_id
    dc_random = client.sam_challenge(sam_id)
    sam_random = sam.dc_challenge()
    signature = sam.answer_dc(dc_random)
    session = client.sam_authenticate(sam_id, dc_random, sam_random, signature)
    sam.accept_grant(session.grant)
    return session


def verify_hpc_certificate(client: DcClient, session: str, hpc: HpcSession) -> HcaHolder:
    """Have the HPC sign the DC's challenge and the DC check card and certificate.

    The HPC's PIN must be verified (signing needs it).
    """
    challenge = client.hca_challenge(session)
    signature = hpc.sign(challenge)
    _, certificate = hpc.certificates()
    return client.hca_verify(session, certificate.public_bytes(Encoding.DER), challenge, signature)
