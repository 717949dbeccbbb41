#!/usr/bin/env bash
# A bare Debian 12 root: what a freshly installed machine holds and nothing of the project's
# (debootstrap --variant=minbase, plus the host's apt sources so it reaches the same mirror).
# Made once and kept as a tarball beside the torch venv; each call unpacks a fresh copy.
#   scripts/bare-root.sh DIR       unpack a fresh bare root into DIR (DIR must not exist)
#   scripts/bare-root.sh --remove DIR   unmount what run-in-root mounted and delete DIR
# The mirror is read from this machine's apt sources at run time. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cache=${XDG_CACHE_HOME:-$HOME/.cache}/gan_dist
tarball=$cache/bare-bookworm-minbase.tar

if [ "${1:-}" = --remove ]; then
  dir=$2
  if [ -d "$dir" ]; then
    for m in $(awk -v d="$(realpath "$dir")" '$2 ~ "^"d {print $2}' /proc/mounts | sort -r); do
      umount -l "$m" || true
    done
    rm -rf --one-file-system "$dir"
  fi
  exit 0
fi
dir=${1:?usage: scripts/bare-root.sh DIR | --remove DIR}
[ "$(id -u)" = 0 ] || { echo "bare-root: needs root (debootstrap, chroot)" >&2; exit 2; }
[ ! -e "$dir" ] || { echo "bare-root: $dir exists" >&2; exit 2; }

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
  echo "bare-root: debootstrap --variant=minbase bookworm from $(mirror) (once, ~2 min)"
  debootstrap --variant=minbase bookworm "$tmp/root" "$(mirror)" >/dev/null
  # The host's sources (same mirror, updates and security suites), as a configured machine has.
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    cp /etc/apt/sources.list.d/*.sources "$tmp/root/etc/apt/sources.list.d/"
    rm -f "$tmp/root/etc/apt/sources.list"
  fi
  apt-get clean -o RootDir="$tmp/root" 2>/dev/null || true
  mkdir -p "$cache"
  tar -C "$tmp/root" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  rm -rf --one-file-system "$tmp"
fi
mkdir -p "$dir"
tar -C "$dir" -xf "$tarball"
echo "bare-root: fresh Debian 12 minbase root in $dir"
