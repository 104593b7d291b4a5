#!/usr/bin/env bash
# Installs what the tests need beyond the .NET SDK: Unicorn 2 (libunicorn.so.2), the emulator whose AArch64 and
# RISC-V 64 CPUs walk the engine's Arm64 and RISC-V tables (src/FastReclaim.Sandbox/Unicorn).
#
# Idempotent and quick when everything is there (one dpkg-query, no network). Never fails the command it is
# chained in front of: without apt-get or root it says what is missing and exits 0, and the emulator tests skip
# with the reason "libunicorn.so.2 cannot be loaded".
set -uo pipefail

packages=(libunicorn2)

missing=()
for package in "${packages[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" != "install ok installed" ]; then
        missing+=("$package")
    fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ]; then
    echo "setup: ${missing[*]} not installed and cannot be (needs apt-get as root); the emulator tests will skip" >&2
    exit 0
fi

echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Try the cached package lists first; refresh them only when that fails (a fresh machine has none).
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
        || echo "setup: apt-get could not install ${missing[*]}; the emulator tests will skip" >&2
fi
exit 0
