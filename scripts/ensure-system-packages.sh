#!/usr/bin/env bash
# The test suites start real servers and a browser from Debian packages (redis-server,
# postgresql, chromium). This makes sure
# they are installed: as root with apt-get it installs what is missing; otherwise it names the
# command to run and stops, so a missing server never turns into a confusing test failure.
set -euo pipefail

# binary -> Debian package (chromium drives the browser test of the access-token flow; curl runs
# the commands of docs/deploy.md and the seed clients' header forms; redis-cli joins the test
# Redis Cluster; python3 runs the seed clients written in Python)
declare -A needed=([redis-server]=redis-server [redis-cli]=redis-tools [chromium]=chromium [curl]=curl [python3]=python3)

missing=()
for binary in "${!needed[@]}"; do
  command -v "$binary" >/dev/null 2>&1 || missing+=("${needed[$binary]}")
done
# PostgreSQL's server binaries are not on PATH: look where Debian puts them.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
# The Python seed clients use requests, as their docs do.
python3 -c 'import requests' >/dev/null 2>&1 || missing+=(python3-requests)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian packages the tests need: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "The tests need these Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
