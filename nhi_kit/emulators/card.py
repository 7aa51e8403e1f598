"""The kit's emulated cards are card applications (``broker.cards.applet``) with the kit's
quirk switches; this name is what the kit and its tests build on."""

from __future__ import annotations

from broker.cards.applet import ApduHook, CardApplet, Handler, PinCounter, SwError, make_atr

CardEmulator = CardApplet

__all__ = ["ApduHook", "CardEmulator", "Handler", "PinCounter", "SwError", "make_atr"]
