#!/usr/bin/env bash
# `make image`: build deploy/docker/Dockerfile with podman as IMAGE (default
# localhost/customer-suite:<version from pyproject.toml>, what the Helm chart's defaults name).
#
# Run as root on Debian 12. podman (and debootstrap, for a base image made here) are installed
# from Debian's packages when missing. The base image is PYTHON_IMAGE when it can be pulled,
# else one made from Debian's packages (deploy/docker/base_image.sh).
# Settings that work on machines where containers cannot be started (the sandbox refuses the OCI
# runtime's setrlimit calls): `--isolation chroot` runs the RUN steps in a plain chroot, no OCI
# runtime; podman's default storage (overlay, /var/lib/containers) works there. pip in the build
# trusts the host's CA bundle (IMAGE_BUILD_CA, mounted for the build only, not in the image), for
# hosts whose HTTPS goes through a TLS-inspecting proxy.
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export DEBIAN_FRONTEND=noninteractive

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)
IMAGE=${IMAGE:-localhost/customer-suite:$VERSION}
IMAGE_BUILD_CA=${IMAGE_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if ((${#missing[@]})); then
    echo "image: installing ${missing[*]} (apt-get)"
    log=$(mktemp -t image-apt.XXXXXX)
    if ! { apt-get update -q && apt-get install -y -q "${missing[@]}"; } >"$log" 2>&1; then
        tail -n 25 "$log" >&2
        echo "image: apt-get install ${missing[*]} failed" >&2
        exit 1
    fi
    rm -f "$log"
fi

base=$(bash deploy/docker/base_image.sh)

ca_args=()
if [[ -s $IMAGE_BUILD_CA ]]; then
    ca_args=(--volume "$IMAGE_BUILD_CA:/etc/pip-build-ca.crt:ro" --build-arg PIP_CERT=/etc/pip-build-ca.crt)
fi
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "image: building $IMAGE on $base"
podman build --isolation chroot \
    --file deploy/docker/Dockerfile \
    --build-arg PYTHON_IMAGE="$base" \
    "${ca_args[@]}" \
    --label org.opencontainers.image.title=customer-suite \
    --label org.opencontainers.image.version="$VERSION" \
    --label org.opencontainers.image.revision="$revision" \
    --tag "$IMAGE" \
    .
# The images this tag named before are garbage now (the build stages' cache stays).
podman image prune --force --filter label=org.opencontainers.image.title=customer-suite >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "image: $IMAGE built, $((size / 1000000)) MB (goal: under 250 MB)"
