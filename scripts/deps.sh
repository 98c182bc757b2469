#!/usr/bin/env bash
# Installs what building and testing need, only what is missing (idempotent).
# `deps.sh` for build + tests, `deps.sh deb` adds the packaging tools.
set -euo pipefail
# `deps.sh build`: only what `make` needs (Python's headers for the WSGI
# loader; libsystemd is loaded with dlopen at run time and needs no
# headers); `deps.sh`: also the test tools.
want=()
command -v python3-config >/dev/null 2>&1 || want+=(python3-dev)
# libfcgi-bin: cgi-fcgi, the second FastCGI client of test_protocols.py.
# debootstrap and systemd-nspawn (systemd-container): scripts/test-deb.sh
# boots the package under systemd in a Debian root. iproute2 (ip netns):
# the multi-host test; python3-yaml: the Kubernetes manifests' test.
[ "${1:-}" != build ] && want+=(curl wrk nginx-light systemd python3-pytest debootstrap systemd-container prometheus tmux iproute2 python3-yaml libfcgi-bin)
[ "${1:-}" = deb ] && want+=(debhelper dpkg-dev fakeroot lintian python3-dev)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nginx-light or any other nginx flavour will do.
if command -v nginx >/dev/null 2>&1; then
  missing=("${missing[@]/nginx-light}")
fi
# pytest from pip counts as well.
if python3 -c 'import pytest' 2>/dev/null; then
  missing=("${missing[@]/python3-pytest}")
fi
if python3 -c 'import yaml' 2>/dev/null; then
  missing=("${missing[@]/python3-yaml}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
