"""The built image's own filesystem, run without a container runtime.

Containers cannot be started on the machines this runs on (the sandbox refuses the OCI
runtime's setrlimit calls), so `make image-test` does by hand what a runtime would: podman mounts
the image read-only (`podman image mount`), and each process, before it execs, enters a mount
namespace of its own (host /dev, a fresh /proc and /tmp, nothing leaks back to the host),
chroots into the image, goes to its WORKDIR and drops to its USER. The network stays the host's.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNS = 0x00020000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x2, 0x4, 0x8
_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 0x40000


@dataclass(frozen=True)
class ImageConfig:
    """What `podman image inspect` says of the image (its OCI config and size)."""

    user: str
    entrypoint: list[str]
    cmd: list[str]
    env: dict[str, str]
    workdir: str
    size: int

    @classmethod
    def inspect(cls, image: str) -> ImageConfig:
        result = subprocess.run(
            ["podman", "image", "inspect", image], capture_output=True, text=True, timeout=60
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"no image {image} in podman's storage: `make image` first\n{result.stderr}"
            )
        info = json.loads(result.stdout)[0]
        config = info["Config"]
        return cls(
            user=config.get("User", ""),
            entrypoint=config.get("Entrypoint") or [],
            cmd=config.get("Cmd") or [],
            env=dict(item.split("=", 1) for item in config.get("Env") or []),
            workdir=config.get("WorkingDir") or "/",
            size=int(info["Size"]),
        )

    @property
    def uid_gid(self) -> tuple[int, int]:
        uid, _, gid = self.user.partition(":")
        return int(uid), int(gid or uid)


@dataclass(frozen=True)
class ImageRoot:
    """The image's filesystem at `path`, entered as `uid:gid` in `workdir` by `enter`."""

    path: Path
    uid: int
    gid: int
    workdir: str

    def enter(self) -> None:
        """preexec_fn of every process run from the image (in the child, before exec)."""
        root = str(self.path)
        _check(_libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        _mount(None, "/", None, _MS_REC | _MS_PRIVATE)  # our mounts stay in our namespace
        _mount("/dev", f"{root}/dev", None, _MS_BIND | _MS_REC)
        _mount("proc", f"{root}/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
        _mount("tmpfs", f"{root}/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777")
        _mount("tmpfs", f"{root}/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777")
        os.chroot(root)
        os.chdir(self.workdir)
        os.setgroups([])
        os.setgid(self.gid)
        os.setuid(self.uid)


def mount_image(image: str) -> Path:
    """`podman image mount`: the image's layers, merged and read-only, at the path returned."""
    result = subprocess.run(
        ["podman", "image", "mount", image], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"podman image mount {image} failed: {result.stderr}")
    return Path(result.stdout.strip())


def unmount_image(image: str) -> None:
    subprocess.run(["podman", "image", "unmount", image], capture_output=True, timeout=120)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    result = _libc.mount(
        source.encode() if source else None,
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    _check(result, f"mount {target}")


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
