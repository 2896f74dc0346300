#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder's image
# (Ubuntu). It installs the Debian/Ubuntu packages the kit needs.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cd /autograder/source
scripts/install-deps.sh
