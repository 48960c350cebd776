#!/usr/bin/env bash
# apt-install.sh PACKAGE... — installs the Debian packages that are missing,
# non-interactively, running apt-get update once first. It is how payroute's
# scripts bring in what the demo and the tests need (clickhouse-server, kcat)
# on a fresh Debian machine.
set -euo pipefail
missing=()
for pkg in "$@"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "apt-install: need root or sudo to install ${missing[*]}" >&2; exit 1; }
	sudo="sudo"
fi
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt may hold the lock on a fresh machine (unattended upgrades): wait for it.
$sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
$sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
