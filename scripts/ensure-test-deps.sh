#!/usr/bin/env bash
# The tests run against real components (an OCI registry, skopeo, htpasswd, Redis) from Debian's
# packages. Install whichever is missing; as non-root, say exactly what to run instead.
set -euo pipefail
declare -A pkg_for=([docker-registry]=docker-registry [skopeo]=skopeo [htpasswd]=apache2-utils [redis-server]=redis-server [openssl]=openssl)
missing=()
for cmd in "${!pkg_for[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg_for[$cmd]}")
done
((${#missing[@]} == 0)) && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "The tests need these Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing test dependencies: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
