"""A person at the emulated serial reader, typing the PIN whenever its pad asks."""

from __future__ import annotations

import threading
from types import TracebackType

from nhi_kit.emulators.serial_reader import SerialReaderEmulator


class PadTypist:
    """Types ``pin`` once on the reader's PIN pad each time the reader asks, until stopped."""

    def __init__(self, reader: SerialReaderEmulator, pin: str) -> None:
        self._pad = reader.pin_pad
        self._pin = pin
        self._stop = threading.Event()
        self.typed = 0
        self._thread = threading.Thread(target=self._run, name="pad-typist", daemon=True)

    def __enter__(self) -> PadTypist:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        seen = 0
        while not self._stop.is_set():
            asked = self._pad.wait_for_prompt(seen, timeout=0.2)
            if asked is None:
                continue
            seen = asked
            self._pad.enter(self._pin)
            self.typed += 1
