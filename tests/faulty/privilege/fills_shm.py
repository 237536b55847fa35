"""Writes 2 GiB into /dev/shm and 2 GiB into memfds (32 MiB each, under the file size
limit), then behaves; shows in its name how many MiB each took."""
import os

from _honest import Correct

CHUNK = b"\xa5" * (1 << 20)


def _fill(open_file, total_mib, per_file_mib):
    written = 0
    try:
        while written < total_mib:
            fd = open_file(written)
            for _ in range(per_file_mib):
                os.write(fd, CHUNK)
                written += 1
    except OSError:
        pass
    return written


SHM = _fill(lambda n: os.open(f"/dev/shm/fill{n}", os.O_CREAT | os.O_WRONLY, 0o600), 2048, 32)
MEMFD = _fill(lambda n: os.memfd_create(f"fill{n}"), 2048, 32)


class FillsShm(Correct):
    name = f"shm={SHM}MiB+memfd={MEMFD}MiB"
