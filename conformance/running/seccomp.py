"""The system calls a sandboxed worker is refused: Unix sockets of its own making, and memfds.

Whatever the sandbox happens to show (a folder of the grader's import path that
holds a socket, say), a worker cannot connect to a Unix socket: it cannot make
one (``socket(AF_UNIX, …)`` fails with ``EPERM``; the socket it talks to the
grader on is handed to it ready-made). Nor can it make a memfd, memory that its
address-space limit does not count. System calls of another ABI than the
machine's own (32-bit or x32 calls on x86-64) are refused, so that neither
can be reached by another number.

bubblewrap loads the filter (``--seccomp FD``) just before it starts the
worker. It is a classic BPF program of ten instructions, written out here:
libseccomp's own Python binding comes with the system's package
(``python3-seccomp``), not with pip, and a program this small is easier to read
than a dependency on a system library is to install everywhere. Machines other than x86-64 and AArch64 get
no filter, and the run's sandbox line says so.
"""

from __future__ import annotations

import os
import platform
import struct

#: Per machine: the audit architecture, and the numbers of socket() and memfd_create().
ABIS = {"x86_64": (0xC000003E, 41, 319), "aarch64": (0xC00000B7, 198, 279)}
AF_UNIX = 1
X32_BIT = 0x40000000
ALLOW, DENY = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
LD_ABS, JEQ, JGE, RET = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JGE|K, BPF_RET|K


def supported() -> bool:
    return platform.machine() in ABIS


def program() -> bytes:
    """The filter, as the array of ``struct sock_filter`` bubblewrap reads. Jumps name the
    instruction they go to; the encoding counts from the one after the jump."""
    arch, socket_nr, memfd_nr = ABIS[platform.machine()]
    allow, deny = 8, 9
    steps = [
        (LD_ABS, 0, 0, 4),  # 0: seccomp_data.arch
        (JEQ, 2, deny, arch),  # 1: another ABI's call: refused
        (LD_ABS, 0, 0, 0),  # 2: seccomp_data.nr
        (JGE, deny, 4, X32_BIT),  # 3: an x32 call: refused
        (JEQ, deny, 5, memfd_nr),  # 4
        (JEQ, 6, allow, socket_nr),  # 5
        (LD_ABS, 0, 0, 16),  # 6: the low half of seccomp_data.args[0], the socket's domain
        (JEQ, deny, allow, AF_UNIX),  # 7
        (RET, 0, 0, ALLOW),  # 8
        (RET, 0, 0, DENY),  # 9
    ]
    out = b""
    for number, (code, to_true, to_false, k) in enumerate(steps):
        jumps = (to_true - number - 1, to_false - number - 1) if code in (JEQ, JGE) else (0, 0)
        out += struct.pack("=HBBI", code, *jumps, k)
    return out


def pipe() -> int:
    """A file descriptor to read the filter from (the caller closes it once it is passed on)."""
    read, write = os.pipe()
    os.write(write, program())
    os.close(write)
    return read
