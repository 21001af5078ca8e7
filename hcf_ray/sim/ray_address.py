"""Which Ray cluster a command joins, and whether anything answers at its address.

A command joins a cluster only when asked to: ``--address`` (``auto`` or ``HOST:PORT``) or,
without it, the ``RAY_ADDRESS`` environment variable (how ``ray job submit`` hands a job its
cluster). Otherwise it starts a local Ray instance of its own, whatever Ray's
``ray_current_cluster`` file (left by ``ray start``) names. ``auto`` finds the cluster as Ray
does, in this order: ``RAY_ADDRESS`` (given to the command, it wins over ``auto``), that file,
a single GCS process running on this machine. (Ray itself prefers a single running GCS to the
file; here the file, written by the last ``ray start``, comes first, and a dead cluster it
names is reported, not replaced by another one.)

Before joining, the address is probed: a TCP connection and the HTTP/2 greeting that the
head's GCS (a gRPC server) sends. An address where nothing listens, or nothing answers within
:data:`PROBE_TIMEOUT_S` seconds, or that answers with something else (the dashboard's port,
say) is an :class:`AddressError`: one line naming the address. Ray itself would retry such an
address for many minutes, printing its own log lines. (A port that speaks HTTP/2 but is no Ray
head passes the probe; Ray's own connection attempt then fails after about 40 s.)
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from hcf_ray.errors import InputError

PROBE_TIMEOUT_S = 10.0  # seconds an address has to answer (documented in deploy/README.md)
# the client's opening of an HTTP/2 connection (RFC 9113, section 3.4)
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_H2_SETTINGS = 0x4  # frame type of the SETTINGS frame a server sends first
_FRAME_HEADER = 9  # bytes


class AddressError(InputError):
    """The Ray cluster asked for cannot be found or reached; one line naming the address."""


@dataclass(frozen=True)
class Target:
    """A cluster to join: the address as given and where it came from."""

    address: str
    source: str  # "--address" or "RAY_ADDRESS"

    def __str__(self) -> str:
        return self.address if self.source == "--address" else f"{self.address} (RAY_ADDRESS)"


def requested(address: str | None) -> Target | None:
    """The cluster to join: ``address``, else ``RAY_ADDRESS``; None: start a local instance
    (also for the address ``local``)."""
    given = (address or "").strip()
    source = "--address"
    if not given:
        given, source = os.environ.get("RAY_ADDRESS", "").strip(), "RAY_ADDRESS"
    if not given or given == "local":
        return None
    return Target(given, source)


def resolve(target: Target) -> str:
    """The ``HOST:PORT`` Ray connects to for ``target`` (``auto`` looked up as Ray does), or a
    ``ray://`` Ray Client address unchanged."""
    addr = target.address
    if "://" in addr:
        if addr.startswith("ray://"):
            return addr
        raise AddressError(
            f"{target}: a URL; a Ray cluster is joined by its GCS address (HOST:PORT, port 6379 "
            "by default) or 'auto' (to submit to the dashboard use `ray job submit`)"
        )
    from ray._private.services import canonicalize_bootstrap_address

    if addr == "auto":  # RAY_ADDRESS, else the cluster that `ray start` here recorded
        from ray._private.utils import read_ray_address

        addr = os.environ.get("RAY_ADDRESS", "").strip() or read_ray_address() or addr
    try:
        found = canonicalize_bootstrap_address(addr)
    except ConnectionError:
        raise AddressError(
            f"{target}: no running Ray cluster found on this machine (start one with "
            "`ray start --head`, or give HOST:PORT)"
        ) from None
    except ValueError:
        raise AddressError(f"{target}: not a Ray address (HOST:PORT or 'auto')") from None
    if found is None:  # cannot happen for a non-empty address other than "local"
        raise AddressError(f"{target}: no Ray cluster found")
    return found


def probe(hostport: str, target: Target, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise :class:`AddressError` unless a gRPC server answers at ``hostport`` within
    ``timeout_s`` seconds (with ``RAY_USE_TLS`` set: unless the port accepts connections)."""
    host, _, port = hostport.rpartition(":")
    host = host.strip("[]")
    shown = str(target) if hostport == target.address else f"{hostport} ({target})"
    deadline = time.monotonic() + timeout_s
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
            if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
                return
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            sock.sendall(_H2_PREFACE)
            head = _read(sock, _FRAME_HEADER, deadline)
    except TimeoutError:
        raise AddressError(
            f"cannot reach the Ray cluster at {shown}: no answer within {timeout_s:g} s"
        ) from None
    except (OSError, ValueError) as exc:
        why = (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).lower()
        raise AddressError(
            f"cannot reach the Ray cluster at {shown}: {why} (is `ray start --head` running "
            "there, with that port?)"
        ) from None
    if len(head) < _FRAME_HEADER or head[3] != _H2_SETTINGS:
        raise AddressError(
            f"{shown} answers but is no Ray head's GCS port (the --port of `ray start --head`, "
            "6379 by default)"
        )


def _read(sock: socket.socket, n: int, deadline: float) -> bytes:
    data = b""
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(n - len(data))
        if not chunk:  # closed by the other end
            break
        data += chunk
    return data
