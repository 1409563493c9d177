#!/usr/bin/env bash
# Print the name of a base image for deploy/docker/Dockerfile (its PYTHON_IMAGE build argument),
# making sure podman has it:
#   1. PYTHON_IMAGE already in podman's storage, or pulled from its registry -> that image;
#   2. else (no registry reachable) a Debian 12 image made here from Debian's packages:
#      `debootstrap --variant=minbase` with python3, python3-venv and ca-certificates, plus the
#      security updates, trimmed (no apt lists or caches, docs, man pages, locales), imported
#      with `podman import` as localhost/customer-suite-base:bookworm-<key>.
# The made image is the cache: <key> hashes this script (hence the package list and the trims)
# and the ISO week, so it is made once a week at most (security updates) and again whenever this
# script changes; older ones are removed. Progress goes to stderr, the name alone to stdout.
# Run as root (debootstrap, podman); `make image` runs it.
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export DEBIAN_FRONTEND=noninteractive

PYTHON_IMAGE=${PYTHON_IMAGE:-python:3.11-slim-bookworm}
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY=${DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
PACKAGES=python3,python3-venv,ca-certificates
BASE_REPO=localhost/customer-suite-base

say() { echo "base image: $*" >&2; }

if podman image exists "$PYTHON_IMAGE"; then
    say "$PYTHON_IMAGE (already in podman's storage)"
    echo "$PYTHON_IMAGE"
    exit 0
fi
if timeout 300 podman pull --quiet "$PYTHON_IMAGE" >/dev/null 2>&1; then
    say "$PYTHON_IMAGE (pulled)"
    echo "$PYTHON_IMAGE"
    exit 0
fi

key=$({ cat "${BASH_SOURCE[0]}"; date -u +%G-W%V; } | sha256sum | cut -c1-12)
tag="$BASE_REPO:$DEBIAN_SUITE-$key"
if podman image exists "$tag"; then
    say "$tag (made earlier; $PYTHON_IMAGE cannot be pulled)"
    echo "$tag"
    exit 0
fi

say "$PYTHON_IMAGE cannot be pulled: making $tag from Debian's packages (a few minutes)"
command -v debootstrap >/dev/null 2>&1 || {
    apt-get update -q >&2 && apt-get install -y -q --no-install-recommends debootstrap >&2
}
work=$(mktemp -d -t customer-suite-base.XXXXXX)
cleanup() {
    # Whatever a failed debootstrap left mounted in the tree goes first; rm stays on this disk.
    awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT
root=$work/rootfs
log=$work/log
if ! debootstrap --variant=minbase --include="$PACKAGES" "$DEBIAN_SUITE" "$root" \
    "$DEBIAN_MIRROR" >"$log" 2>&1; then
    tail -n 25 "$log" >&2
    say "debootstrap failed"
    exit 1
fi
cat >"$root/etc/apt/sources.list" <<EOF
deb $DEBIAN_MIRROR $DEBIAN_SUITE main
deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main
deb $DEBIAN_SECURITY $DEBIAN_SUITE-security main
EOF
# The security updates, inside the new tree (apt needs no /proc for this).
if ! { chroot "$root" apt-get update -q && chroot "$root" apt-get upgrade -y -q; } >"$log" 2>&1; then
    tail -n 25 "$log" >&2
    say "apt-get upgrade in the new tree failed"
    exit 1
fi
chroot "$root" apt-get clean
# Packages' copyright files stay (their licences ask for it), the rest of the docs go.
find "${root:?}/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "${root:?}/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "${root:?}"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/* \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
    "$root"/tmp/* "$root"/root/.cache
# What keeps apt from bringing the trimmed files back, as in Debian's own slim images.
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF

tar --numeric-owner --xattrs -C "$root" -c . |
    podman import --quiet \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' \
        --message "debootstrap --variant=minbase $DEBIAN_SUITE + $PACKAGES" \
        - "$tag" >/dev/null
# Earlier keys' images are stale now: remove them (an image still used by another keeps).
podman images --format '{{.Repository}}:{{.Tag}}' --filter "reference=$BASE_REPO" |
    grep -vFx "$tag" | xargs -r podman rmi >/dev/null 2>&1 || true
say "$tag made ($(podman image inspect --format '{{.Size}}' "$tag" | numfmt --to=si)B)"
echo "$tag"
