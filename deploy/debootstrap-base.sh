#!/usr/bin/env bash
# Makes a Debian base image from Debian's own packages, for machines that reach a Debian
# mirror but no image registry:  sudo deploy/debootstrap-base.sh [SUITE] [TAG]
# then:  docker build --build-arg BASE_IMAGE=facerec-base:bookworm -t facerec .
# (tests/test_deploy.py uses facerec-base:bookworm when debian:bookworm-slim is absent).
set -euo pipefail
suite="${1:-bookworm}"
tag="${2:-facerec-base:$suite}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase "$suite" "$root" "$mirror"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
tar --numeric-owner -C "$root" -c . | docker import - "$tag"
echo "$tag"
