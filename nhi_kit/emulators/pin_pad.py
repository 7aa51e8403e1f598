"""The emulated serial reader's PIN pad: the holder types the PIN there, never the host."""

from __future__ import annotations

import queue
import threading
from typing import Final

from broker.transport.serial_frames import Status

MAX_PIN_DIGITS: Final = 16
WAIT_SLICE: Final = 0.1  # seconds a wait for an entry lasts before it checks stop()
_CANCEL: Final = object()


class PinPad:
    """The reader's keypad: ``enter`` queues what the person types, ``cancel`` presses Cancel.

    PIN_PAD_VERIFY takes the next entry, waiting up to ``timeout`` seconds.
    ``prompting`` is set while the reader waits, so a test (or a demo) can
    type only once the reader asks.
    """

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.prompting = threading.Event()
        self._entries: queue.Queue[object] = queue.Queue()
        self._prompts = 0  # how many times the reader has asked for a PIN
        self._asked = threading.Condition()

    def wait_for_prompt(self, seen: int, timeout: float) -> int | None:
        """Wait until the reader asks for a PIN for the ``seen + 1``-th time or later.

        Returns the number of prompts so far (pass it back next time), or None
        on timeout: one entry per prompt, never a PIN typed ahead.
        """
        with self._asked:
            if not self._asked.wait_for(lambda: self._prompts > seen, timeout):
                return None
            return self._prompts

    def enter(self, pin: str) -> None:
        """The person types ``pin`` (digits) and presses Enter."""
        if not (pin.isascii() and pin.isdigit() and 1 <= len(pin) <= MAX_PIN_DIGITS):
            raise ValueError(f"a PIN pad entry is 1 to {MAX_PIN_DIGITS} digits")
        self._entries.put(pin)

    def cancel(self) -> None:
        """The person presses Cancel."""
        self._entries.put(_CANCEL)

    def clear(self) -> None:
        """Forget anything typed ahead."""
        while True:
            try:
                self._entries.get_nowait()
            except queue.Empty:
                return

    def take(self, stop: threading.Event) -> str | Status:
        """Wait for the next entry: the PIN, or PIN_PAD_TIMEOUT / PIN_PAD_CANCELLED."""
        self.prompting.set()
        with self._asked:
            self._prompts += 1
            self._asked.notify_all()
        try:
            return self._take(stop)
        finally:
            self.prompting.clear()

    def _take(self, stop: threading.Event) -> str | Status:
        remaining = self.timeout
        while remaining > 0 and not stop.is_set():
            slice_ = min(remaining, WAIT_SLICE)
            try:
                entry = self._entries.get(timeout=slice_)
            except queue.Empty:
                remaining -= slice_
                continue
            return entry if isinstance(entry, str) else Status.PIN_PAD_CANCELLED
        return Status.PIN_PAD_TIMEOUT
