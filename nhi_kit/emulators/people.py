"""The virtual card kit's people, cards and SAMs.

The first of each kind is printed in the cshis6 manual (the settings, HPC and HC pages);
the others add variety for tests and demos. PINs and PUKs here belong to
emulated test cards only.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.cards.records import Environment


@dataclass(frozen=True)
class HcPerson:
    """A health-card holder and the card's own state at issue."""

    card_id: str
    name: str
    id_no: str
    birthday: str
    sex: str
    identity_status: str  # 1 福民, 2 榮民, 3 一般, 4 中低收入, 8 災民
    issue_date: str
    environment: Environment
    pin: str | None = None


@dataclass(frozen=True)
class HpcPerson:
    """A health-professional card holder."""

    card_id: str
    id_no: str
    c_name: str
    e_name: str
    pin: str
    puk: str
    environment: Environment
    kind: str = "HPC"  # or "DOC": the older doctor card
    pin_tries_left: int = 3
    certificate: str = "valid"  # or "expired", "untrusted" (a rogue CA), "revoked" (DC's list)


@dataclass(frozen=True)
class SamRecord:
    """A security module: physical (in a serial reader) or cloud (a .SAM file)."""

    sam_id: str
    hospital_id: str
    hospital_name: str | None
    hospital_short_name: str | None
    cloud: bool
    comport: str | None = None

    @property
    def environment(self) -> Environment:
        """Formal (id starts with 0) or test (9)."""
        return Environment.of_sam_id(self.sam_id)


T, F = Environment.TEST, Environment.FORMAL

HEALTH_CARDS: tuple[HcPerson, ...] = (
    HcPerson("900000000711", "吳佳蓉", "R88855084A", "0741201", "F", "4", "1050315", T),
    HcPerson("900000000728", "王小明", "A123456789", "0800505", "M", "3", "1080101", T, "123456"),
    HcPerson("900000000735", "陳美玲", "B223456780", "0451111", "F", "1", "0990720", T),
    HcPerson("900000000742", "林志明", "C120000001", "1090303", "M", "2", "1100401", T, "24681357"),
    HcPerson("900000000759", "歐陽娜娜", "D287654321", "0880607", "F", "8", "1120916", T),
    HcPerson("000012345678", "張正式", "E100000009", "0700101", "M", "3", "1090101", F),
)

HPCS: tuple[HpcPerson, ...] = (
    HpcPerson("100000291508", "E123456789", "測試人員4", "", "000000", "99999999", T),
    HpcPerson("100000291515", "F223456789", "測試人員5", "TEST FIVE", "12345678", "87654321", T),
    HpcPerson(
        "100000291522", "A123456780", "測試人員6", "", "111111", "11111111", T, pin_tries_left=0
    ),
    HpcPerson(
        "100000291539", "H123450000", "測試醫師7", "DR SEVEN", "222222", "22222222", T, "DOC"
    ),
    HpcPerson("000000123456", "J100000003", "正式醫師", "FORMAL DR", "654321", "13572468", F),
    HpcPerson(
        "100000291546",
        "K123456781",
        "測試人員8",
        "",
        "333333",
        "33333333",
        T,
        certificate="expired",
    ),
    HpcPerson(
        "100000291553",
        "L123456782",
        "測試人員9",
        "",
        "444444",
        "44444444",
        T,
        certificate="untrusted",
    ),
    HpcPerson(
        "100000291560",
        "M123456783",
        "測試人員10",
        "",
        "555555",
        "55555555",
        T,
        certificate="revoked",
    ),
)

SAMS: tuple[SamRecord, ...] = (
    SamRecord(
        "001000000103", "3501200000", "臺北虛擬診所", "臺北虛擬診", cloud=True, comport="COM2"
    ),
    SamRecord("901000000047", "7777777777", "測試機構", "測試機構", cloud=True, comport="COM3"),
    SamRecord("900000000101", "7777777777", None, None, cloud=False, comport="COM1"),
    SamRecord("000000000109", "3501200000", None, None, cloud=False),
    SamRecord("901000000054", "7777777_01", "過期合約診所", "過期診所", cloud=True),
)
"""SAMs: the manual's two cloud SAMs, the physical test SAM on COM1, a formal
physical SAM, and a cloud SAM whose contract the data centre keeps expired."""
