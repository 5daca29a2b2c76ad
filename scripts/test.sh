#!/usr/bin/env bash
# The one command that runs every test on a fresh Debian machine:
# installs what is missing, builds, runs unit tests and the end-to-end tests
# in network namespaces (these need root, as CI has).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/deps.sh
source scripts/deps.sh
install_packages "${DROPSPOT_PACKAGES[@]}"
export BUILD_DIR=${BUILD_DIR:-build}
scripts/build.sh
if [ "$(id -u)" -ne 0 ]; then
  echo "test: not root: the end-to-end tests in network namespaces will fail; run as root" >&2
fi
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 600 -j "${CTEST_PARALLEL:-2}" "$@"
