"""A plain PC/SC program, knowing nothing of the broker: SELECT and READ a health card.

Prints the profile's hex and the median milliseconds per APDU over many reads.
"""

from __future__ import annotations

import statistics
import sys
import time

from smartcard.System import readers

# The public readers' bytes (magiclen/tw-nhi-icc-service src/card/mod.rs; tests/public_readers.py).
SELECT = list(bytes.fromhex("00 A4 04 00 10 D1 58 00 00 01 00 00 00 00 00 00 00 00 00 11 00"))
READ = [0x00, 0xCA, 0x11, 0x00, 0x02, 0x00, 0x00]


def main(reader_name: str, rounds: int) -> None:
    reader = next(r for r in readers() if str(r) == reader_name)
    connection = reader.createConnection()
    connection.connect()
    _, sw1, sw2 = connection.transmit(SELECT)
    if (sw1, sw2) not in ((0x90, 0x00), (0x6D, 0x00)):
        raise SystemExit(f"SELECT answered {sw1:02X}{sw2:02X}")
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        data, sw1, sw2 = connection.transmit(READ)
        times.append((time.perf_counter() - start) * 1000)
        if (sw1, sw2) != (0x90, 0x00):
            raise SystemExit(f"READ answered {sw1:02X}{sw2:02X}")
    print(bytes(data).hex())
    print(f"{statistics.median(times):.3f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
