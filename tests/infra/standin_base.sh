#!/usr/bin/env bash
# Build the stand-in base image for the container test, once, into a git-ignored cache.
#
# The Dockerfile's default base (the pinned public python:3.12 slim image) cannot be pulled on
# machines that reach only the Debian and PyPI registries. This makes a Debian bookworm root
# filesystem with python3 and pip (mmdebstrap, as root) and imports it into podman's store as
# localhost/standin-python:bookworm. Its Python is 3.11, which the project supports.
#
#   bash tests/infra/standin_base.sh CACHE_DIR PODMAN_STORAGE_FLAGS...
#
# Rebuilds the tarball only when it is missing (CI builds it once per run); re-imports it
# whenever the image is absent from the given store. Prints the image reference.
set -euo pipefail
CACHE="$1"; shift
IMAGE=localhost/standin-python:bookworm
TARBALL="$CACHE/standin-base.tar"
MIRROR="${STANDIN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$CACHE"
if [[ ! -s "$TARBALL" ]]; then
    # python/pip on /usr/local/bin as in the public image; Debian's EXTERNALLY-MANAGED marker
    # removed, since the image's own pip installs into the system interpreter like the
    # public image's does.
    mmdebstrap --quiet --variant=minbase --mode=root --format=tar \
        --include=python3,python3-pip,python-is-python3,passwd,ca-certificates \
        --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
        --customize-hook='ln -sf /usr/bin/python3 "$1"/usr/local/bin/python' \
        --customize-hook='ln -sf /usr/bin/pip3 "$1"/usr/local/bin/pip' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
        bookworm "$TARBALL.part" "$MIRROR" >&2
    mv "$TARBALL.part" "$TARBALL"
fi
if ! podman "$@" image exists "$IMAGE"; then
    podman "$@" import --quiet --change 'CMD ["python3"]' "$TARBALL" "$IMAGE" >/dev/null
fi
echo "$IMAGE"
