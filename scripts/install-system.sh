#!/usr/bin/env bash
# Debian packages the broker and its tests need (run as root on Debian 12/13).
set -euo pipefail
packages=(pcscd vsmartcard-vpcd libpcsclite-dev pcsc-tools swig socat
          python3 python3-venv python3-dev gcc chromium fonts-noto-cjk
          libnss3-tools ca-certificates systemd xdg-utils desktop-file-utils
          libglib2.0-bin haproxy libseccomp2 firefox-esr
          )
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root or install them)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
