#!/bin/sh
# Installs the Debian packages the kit needs to build and test.
# As root it runs apt-get itself; otherwise it prints the exact command to run and stops.
# Usage: scripts/install-deps.sh [--check]   (--check: only report what is missing, exit 1 if any)
set -eu

PACKAGES="build-essential clang pkg-config libuv1-dev libcriterion-dev python3 python3-pytest python3-pytest-timeout strace valgrind stress-ng patch clang-format iproute2 debootstrap libclang-rt-14-dev"

missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done

if [ -z "$missing" ]; then
    [ "${1:-}" = "--check" ] || echo "install-deps: everything the kit needs is installed."
    exit 0
fi

if [ "${1:-}" = "--check" ]; then
    echo "install-deps: missing:$missing" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: this machine has no apt-get; install these packages (Debian names) by hand:$missing" >&2
    exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: the kit needs these Debian packages:$missing" >&2
    echo "install-deps: run this once, then 'make test' again:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086  # the package list is meant to split into words
apt-get install -y -q --no-install-recommends $missing
