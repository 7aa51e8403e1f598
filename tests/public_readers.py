"""What public NHI card readers send to a health card, byte for byte, and where it is written.

These are data, not derived from the broker's constants: a regression in
``broker/cards/commands.py`` shows up as a difference from them.
"""

from __future__ import annotations

# magiclen/tw-nhi-icc-service, src/card/mod.rs: APDU_SELECT and APDU_READ (Rust, pcsc crate).
# The same 21 and 7 bytes are in hikarisakira/nhi-pcsc-reader (Go), and in Python and
# Node readers that quote them.
SELECT = bytes.fromhex("00 A4 04 00 10 D1 58 00 00 01 00 00 00 00 00 00 00 00 00 11 00")
READ_PROFILE = bytes.fromhex("00 CA 11 00 02 00 00")

# C# readers built on PCSC.Iso7816 send the name without its last byte, as a case-4
# command: CommandApdu(IsoCase.Case4Short) { Data = D1 58 00 00 01 00×9 11, Le = 00 }.
SELECT_CSHARP = bytes.fromhex("00 A4 04 00 0F D1 58 00 00 01 00 00 00 00 00 00 00 00 00 11 00")

# The 57-byte profile (magiclen/tw-nhi-icc-service, src/card/nhi_card_basic.rs):
# card number 0–11 ASCII, name 12–31 Big5 (padded), ID 32–41, birthday 42–48 ROC
# YYYMMDD, sex 49 (M/F), issue date 50–56 ROC YYYMMDD.
PROFILE_FIELDS = {
    "card_id": slice(0, 12),
    "name": slice(12, 32),
    "id_no": slice(32, 42),
    "birthday": slice(42, 49),
    "sex": slice(49, 50),
    "issue_date": slice(50, 57),
}
PROFILE_LENGTH = 57
