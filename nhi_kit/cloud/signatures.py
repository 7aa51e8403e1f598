"""Checking a broker's signature the way the issuer can: recompute what was signed.

A broker signs ``canonical(fields) ‖ proof`` with its SAM (RSA PKCS#1 v1.5,
SHA-256), ``fields`` being ``clientRandom, hospitalId, samId, serviceType``
plus the card ids. An HC's proof is the card's AES-CMAC over the client
random (physical) or the virtual card's id from the data centre (virtual);
for HpcHc the HPC first signs ``canonical(fields without hpc ids) ‖ proof``
and the SAM signs ``canonical(all fields) ‖ proof ‖ hpc signature``. The
cloud is the kit's issuer: it derives each card's key from the issuer
masters and holds the kit's HPC and SAM keys, so it recomputes the proof and
the (deterministic) HPC signature and checks the SAM's signature over them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from nhi_kit.cloud.codes import CloudCode, CloudRefusedError
from nhi_kit.emulators.hc import LABEL_HC_DATA
from nhi_kit.emulators.keys import derive_card_key, has_key, issuer_master, mac, rsa_key
from nhi_kit.emulators.people import HEALTH_CARDS, HPCS, SAMS, HcPerson, HpcPerson, SamRecord

CLIENT_RANDOM_LENGTH = 8
SERVICE_TYPES = tuple(f"{n:02d}" for n in range(100))
VhcLookup = Callable[[str], Sequence[str]]  # card id → the virtual-card ids the DC bound


class Kind(Enum):
    """Which cards a signature covers (docs/cloud-protocol.md, the signature of each endpoint)."""

    SAM = "SAM"
    HC = "HC"
    HPC_HC = "HpcHc"


@dataclass(frozen=True)
class Signed:
    """A signature that verified: who made it."""

    client_random: str
    sam: SamRecord
    hc: HcPerson | None = None
    hpc: HpcPerson | None = None
    virtual: bool = False

    @property
    def hospital_id(self) -> str:
        """The hospital the SAM belongs to."""
        return self.sam.hospital_id


@dataclass(frozen=True)
class _Claim:
    """What a request says signed it, parsed."""

    client_random: bytes
    signature: bytes
    fields: dict[str, str]
    sam: SamRecord
    hc: HcPerson | None
    hpc: HpcPerson | None


def canonical(fields: dict[str, str]) -> bytes:
    """What a broker signature covers: ``k=v`` joined by ``|``, keys sorted."""
    return "|".join(f"{k}={fields[k]}" for k in sorted(fields)).encode()


class Verifier:
    """Checks signatures against the kit's SAMs and cards; virtual cards through ``vhc_ids``."""

    def __init__(self, vhc_ids: VhcLookup | None = None) -> None:
        self._vhc_ids = vhc_ids

    def verify(self, body: dict[str, Any], kind: Kind, service_type: str) -> Signed:
        """The signer of ``body``, or CloudRefusedError naming the check that failed."""
        claim = _claim(body, kind, service_type)
        for proof, virtual in self._proofs(claim.hc, claim.client_random):
            if _verifies(claim, claim.fields, claim.hc, claim.hpc, proof):
                return Signed(_b64(claim.client_random), claim.sam, claim.hc, claim.hpc, virtual)
        raise self._diagnose(claim)

    def _proofs(self, hc: HcPerson | None, client_random: bytes) -> Iterator[tuple[bytes, bool]]:
        """Every proof ``hc`` could have given for ``client_random``: physical, then virtual."""
        if hc is None:
            yield b"", False
            return
        yield card_proof(hc, client_random), False
        for vhc_id in self._vhc_ids(hc.card_id) if self._vhc_ids is not None else ():
            yield vhc_id.encode(), True

    def _diagnose(self, claim: _Claim) -> CloudRefusedError:
        """Why the signature fails: another service type, other cards, or tampering."""
        for other in SERVICE_TYPES:
            if other == claim.fields["serviceType"]:
                continue  # that one failed already
            fields = {**claim.fields, "serviceType": other}
            for proof, _ in self._proofs(claim.hc, claim.client_random):
                if _verifies(claim, fields, claim.hc, claim.hpc, proof):
                    return CloudRefusedError(
                        CloudCode.WRONG_SERVICE_TYPE,
                        f"signed for service type {other}, this call needs "
                        f"{claim.fields['serviceType']}",
                    )
        if claim.hc is not None:
            for hc in HEALTH_CARDS:
                if hc != claim.hc and self._signed_by(claim, hc, claim.hpc):
                    return CloudRefusedError(CloudCode.HC_NOT_SIGNER, f"hcId {claim.hc.card_id}")
        if claim.hpc is not None:
            for hpc in HPCS:
                if hpc != claim.hpc and self._signed_by(claim, claim.hc, hpc):
                    return CloudRefusedError(CloudCode.HPC_NOT_SIGNER, f"hpcId {claim.hpc.card_id}")
        return CloudRefusedError(CloudCode.BAD_SIGNATURE, f"samId {claim.sam.sam_id}")

    def _signed_by(self, claim: _Claim, hc: HcPerson | None, hpc: HpcPerson | None) -> bool:
        fields = {**claim.fields, **_ids(hc, hpc)}
        return any(
            _verifies(claim, fields, hc, hpc, proof)
            for proof, _ in self._proofs(hc, claim.client_random)
        )


def card_proof(hc: HcPerson, client_random: bytes) -> bytes:
    """A physical card's proof: its data-authentication MAC, with the key the issuer derives."""
    key = derive_card_key(issuer_master("HC", hc.environment), hc.card_id)
    return mac(key, LABEL_HC_DATA + client_random)


def _verifies(
    claim: _Claim,
    fields: dict[str, str],
    hc: HcPerson | None,
    hpc: HpcPerson | None,
    proof: bytes,
) -> bool:
    extra = proof
    if hpc is not None:
        without_hpc = {k: v for k, v in fields.items() if k not in ("hpcId", "hpcIdNo")}
        extra += hpc_signature(hpc, canonical(without_hpc) + proof)
    try:
        _sam_key(claim.sam.sam_id).verify(
            claim.signature, canonical(fields) + extra, padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        return False
    return True


def hpc_signature(hpc: HpcPerson, data: bytes) -> bytes:
    """The HPC's signature over ``data``: PKCS#1 v1.5 is deterministic, so it can be redone."""
    return _hpc_key(hpc.card_id).sign(data, padding.PKCS1v15(), hashes.SHA256())


@cache  # loading (and checking) an RSA key costs more than signing with it
def _hpc_key(card_id: str) -> rsa.RSAPrivateKey:
    return rsa_key(f"hpc-{card_id}")


@cache
def _sam_key(sam_id: str) -> rsa.RSAPublicKey:
    return rsa_key(f"sam-{sam_id}").public_key()


def _claim(body: dict[str, Any], kind: Kind, service_type: str) -> _Claim:
    """Parse and check everything that needs no cryptography, in the documented order."""
    client_random = _binary(body, "clientRandom")
    if len(client_random) != CLIENT_RANDOM_LENGTH:
        raise CloudRefusedError(CloudCode.BAD_REQUEST, "clientRandom must be 8 bytes")
    signature = _binary(body, "signature")
    sam = _sam(text(body, "samId"))
    hospital_id = text(body, "hospitalId")
    if sam.hospital_id != hospital_id:
        raise CloudRefusedError(
            CloudCode.SAM_NOT_OF_HOSPITAL, f"SAM {sam.sam_id} is not of hospital {hospital_id}"
        )
    sent_type = body.get("serviceType")
    if sent_type is not None and sent_type != service_type:
        raise CloudRefusedError(
            CloudCode.WRONG_SERVICE_TYPE, f"serviceType {sent_type!r}, not {service_type}"
        )
    hc = _hc(body) if kind is not Kind.SAM else None
    hpc = _hpc(body) if kind is Kind.HPC_HC else None
    fields = {
        "clientRandom": _b64(client_random),
        "hospitalId": hospital_id,
        "samId": sam.sam_id,
        "serviceType": service_type,
        **_ids(hc, hpc),
    }
    return _Claim(client_random, signature, fields, sam, hc, hpc)


def _ids(hc: HcPerson | None, hpc: HpcPerson | None) -> dict[str, str]:
    ids: dict[str, str] = {}
    if hc is not None:
        ids.update(hcId=hc.card_id, hcIdNo=hc.id_no)
    if hpc is not None:
        ids.update(hpcId=hpc.card_id, hpcIdNo=hpc.id_no)
    return ids


def _sam(sam_id: str) -> SamRecord:
    sam = next((s for s in SAMS if s.sam_id == sam_id), None)
    if sam is None or not has_key(f"sam-{sam_id}"):
        raise CloudRefusedError(CloudCode.UNKNOWN_SAM, f"samId {sam_id[:20]!r}")
    return sam


def _hc(body: dict[str, Any]) -> HcPerson:
    card_id, id_no = text(body, "hcId"), text(body, "hcIdNo")
    hc = next((p for p in HEALTH_CARDS if p.card_id == card_id), None)
    if hc is None:
        raise CloudRefusedError(CloudCode.UNKNOWN_HC, f"hcId {card_id[:20]!r}")
    if hc.id_no != id_no:
        raise CloudRefusedError(CloudCode.HC_NOT_SIGNER, f"hcIdNo is not the ID of card {card_id}")
    return hc


def _hpc(body: dict[str, Any]) -> HpcPerson:
    card_id, id_no = text(body, "hpcId"), text(body, "hpcIdNo")
    hpc = next((p for p in HPCS if p.card_id == card_id), None)
    if hpc is None or not has_key(f"hpc-{card_id}"):
        raise CloudRefusedError(CloudCode.UNKNOWN_HPC, f"hpcId {card_id[:20]!r}")
    if hpc.id_no != id_no:
        raise CloudRefusedError(
            CloudCode.HPC_NOT_SIGNER, f"hpcIdNo is not the ID of card {card_id}"
        )
    return hpc


def text(body: dict[str, Any], name: str) -> str:
    """A required non-empty string field."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise CloudRefusedError(CloudCode.BAD_REQUEST, f"{name} must be a non-empty string")
    return value


def _binary(body: dict[str, Any], name: str) -> bytes:
    try:
        return base64.b64decode(text(body, name), validate=True)
    except (binascii.Error, ValueError):
        raise CloudRefusedError(CloudCode.BAD_REQUEST, f"{name} must be base64") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
