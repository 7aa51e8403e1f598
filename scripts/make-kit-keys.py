"""Generate the virtual card kit's fixed test keys (run once; output is committed).

Fixed keys make every process of the kit agree: a card served through vpcd
by one process carries the same certificate the broker's data centre
simulator trusts in another.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from nhi_kit.emulators.people import HPCS, SAMS

OUT = Path(__file__).resolve().parent.parent / "broker" / "emulators" / "keys"


def write(name: str, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> None:
    path = OUT / f"{name}.pem"
    if path.exists():
        return
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    print("wrote", path.name)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name in ("pki-root", "pki-hca", "pki-rogue"):
        write(name, rsa.generate_private_key(65537, 2048))
    for hpc in HPCS:
        write(f"hpc-{hpc.card_id}", rsa.generate_private_key(65537, 2048))
    for sam in SAMS:
        write(f"sam-{sam.sam_id}", rsa.generate_private_key(65537, 2048))
    for name in ("dc-grant", "dc-token"):
        write(name, ec.generate_private_key(ec.SECP256R1()))


if __name__ == "__main__":
    main()
