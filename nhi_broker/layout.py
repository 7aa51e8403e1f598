"""Where the installed service keeps things on a Debian host, under a root (``/`` or a test's)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SERVICE = "nhi-broker"
USER = "nhi-broker"
CONFIG_DIR = Path("/etc/nhi-broker")
DATA_DIR = Path("/var/lib/nhi-broker")  # the unit's StateDirectory=
PROGRAM = Path("/usr/local/bin/nhi-broker")  # the unit's and the desktop entry's command
DESKTOP_ID = "nhi-broker-console.desktop"
DOCS = Path("/usr/local/share/doc/nhi-broker")  # the unit's Documentation=file:…
# What the unit hides from the service (PrivateTmp=yes, ProtectHome=yes): it cannot run a
# program kept there. Names only, never written to.
HIDDEN = tuple(map(Path, ("/tmp", "/var/tmp", "/home", "/root", "/run/user")))  # noqa: S108


@dataclass(frozen=True)
class HostLayout:
    """The installed files' places under ``root``."""

    root: Path

    def under(self, path: Path) -> Path:
        """``path`` (absolute, as the running system sees it) inside this root."""
        return self.root / path.relative_to("/")

    @property
    def is_live(self) -> bool:
        """Whether this is the running system's own root."""
        return self.root.resolve() == Path("/")

    @property
    def config_dir(self) -> Path:
        return self.under(CONFIG_DIR)

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def data_dir(self) -> Path:
        return self.under(DATA_DIR)

    @property
    def unit(self) -> Path:
        # /etc/systemd/system: where an administrator's own units go (packages use /usr/lib)
        return self.under(Path(f"/etc/systemd/system/{SERVICE}.service"))

    @property
    def renew_units(self) -> tuple[Path, Path]:
        """The daily check that restarts the service when its certificate is due."""
        units = self.under(Path("/etc/systemd/system"))
        return units / f"{SERVICE}-renew.service", units / f"{SERVICE}-renew.timer"

    @property
    def sysusers(self) -> Path:
        return self.under(Path(f"/etc/sysusers.d/{SERVICE}.conf"))

    @property
    def program(self) -> Path:
        return self.under(PROGRAM)

    @property
    def applications(self) -> Path:
        return self.under(Path("/usr/local/share/applications"))

    @property
    def desktop_entry(self) -> Path:
        return self.applications / DESKTOP_ID

    @property
    def operations_doc(self) -> Path:
        return self.under(DOCS / "operations.md")

    @property
    def local_ca_dir(self) -> Path:
        return self.under(Path("/usr/local/share/ca-certificates"))

    @property
    def system_ca(self) -> Path:
        return self.local_ca_dir / f"{SERVICE}-ca.crt"
