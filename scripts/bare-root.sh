#!/usr/bin/env bash
# A bare Debian 12 root: what a freshly installed machine holds and nothing of the project's
# (debootstrap --variant=minbase, plus the host's apt sources so it reaches the same mirror),
# optionally with a few named packages more. Made once per package set and kept as a tarball
# beside the torch venv; each call unpacks a fresh copy.
#   scripts/bare-root.sh [--with "PKG..."] DIR   unpack a fresh root into DIR (must not exist)
#   scripts/bare-root.sh --remove DIR             unmount what was mounted under DIR, delete it
# The mirror is read from this machine's apt sources at run time. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cache=${XDG_CACHE_HOME:-$HOME/.cache}/gan_dist

if [ "${1:-}" = --remove ]; then
  dir=$2
  if [ -d "$dir" ]; then
    for m in $(awk -v d="$(realpath "$dir")" 'index($2, d "/") == 1 {print $2}' /proc/mounts | sort -r); do
      umount -l "$m" || true
    done
    rm -rf --one-file-system "$dir"
  fi
  exit 0
fi
with=""
if [ "${1:-}" = --with ]; then with=$2; shift 2; fi
dir=${1:?usage: scripts/bare-root.sh [--with "PKG..."] DIR | --remove DIR}
[ "$(id -u)" = 0 ] || { echo "bare-root: needs root (debootstrap, chroot)" >&2; exit 2; }
[ ! -e "$dir" ] || { echo "bare-root: $dir exists" >&2; exit 2; }
key=minbase
[ -n "$with" ] && key=minbase-$(echo "$with" | tr ' ' '\n' | sort | tr '\n' ' ' | sha256sum | cut -c1-12)
tarball=$cache/bare-bookworm-$key.tar

# The first deb URI of the host's Debian sources (deb822 or one-line form).
mirror() {
  local uri
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $2 !~ /^\[/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || { echo "bare-root: no Debian mirror in /etc/apt/sources*" >&2; exit 3; }
  echo "$uri"
}

if [ ! -f "$tarball" ]; then
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/bare-root.XXXXXX")
  trap 'scripts/bare-root.sh --remove "$tmp"' EXIT
  echo "bare-root: debootstrap --variant=minbase bookworm from $(mirror) (once per package set)"
  debootstrap --variant=minbase bookworm "$tmp/root" "$(mirror)" >/dev/null
  # The host's sources (same mirror, updates and security suites), as a configured machine has.
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    cp /etc/apt/sources.list.d/*.sources "$tmp/root/etc/apt/sources.list.d/"
    rm -f "$tmp/root/etc/apt/sources.list"
  fi
  if [ -n "$with" ]; then
    echo "bare-root: adding $with"
    cp /etc/resolv.conf "$tmp/root/etc/resolv.conf"
    mount -t proc proc "$tmp/root/proc"
    chroot "$tmp/root" apt-get update -qq
    # shellcheck disable=SC2086
    chroot "$tmp/root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends $with >/dev/null
    umount "$tmp/root/proc"
  fi
  chroot "$tmp/root" apt-get clean
  mkdir -p "$cache"
  tar -C "$tmp/root" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
fi
mkdir -p "$dir"
tar -C "$dir" -xf "$tarball"
echo "bare-root: fresh Debian 12 minbase root${with:+ with $with} in $dir"
