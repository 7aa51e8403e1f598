"""``nhi-broker kit cards``: every card of the kit, its PIN and PUK, and where the sim holds it."""

from __future__ import annotations

from broker import config
from nhi_kit.emulators.kit import CardKit, KitCard

ENVIRONMENTS = {"T": "test", "F": "formal"}
NOT_SHOWN = "-"
HEADER = ("card", "kind", "env", "PIN", "PUK", "where (sim profile)", "name")


def holders(settings: config.BrokerConfig) -> dict[str, str]:
    """Card id → where the profile puts it at start: a reader, a serial slot, the cloud."""
    where = {card: reader for reader, card in settings.sim.readers.items() if card}
    for port, slots in settings.sim.serial.items():
        where.update({card: f"{port} {slot}" for slot, card in slots.items()})
    where.update(dict.fromkeys(settings.sim.cloud_sams, "cloud SAM"))
    return where


def row(card: KitCard, where: str) -> tuple[str, ...]:
    """One card's columns; PIN and PUK only for test cards (a formal card's are never shown)."""
    environment = str(card.fields["environment"])
    test = environment == "T"
    secret = {
        k: str(card.fields.get(k) or NOT_SHOWN) if test else NOT_SHOWN for k in ("pin", "puk")
    }
    name = card.fields.get("name") or card.fields.get("c_name") or card.fields.get("hospital_name")
    return (
        card.id,
        card.kind,
        ENVIRONMENTS.get(environment, environment),
        secret["pin"],
        secret["puk"],
        where or NOT_SHOWN,
        str(name or ""),
    )


def kit_cards() -> int:
    """Print the table; the name last, since CJK widths do not line up."""
    places = holders(config.sim_profile())
    rows = [HEADER, *(row(card, places.get(card.id, "")) for card in CardKit().listing())]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER) - 1)]
    for r in rows:
        line = "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False))
        print(f"{line}  {r[-1]}".rstrip())
    return 0
