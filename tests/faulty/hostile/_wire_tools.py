"""The attackers' tool: the grader's socket, found among the process's open files."""
import os
import socket
import struct


def grader_sockets():
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            sock = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue
        if sock.type == socket.SOCK_STREAM:
            found.append(sock)
        else:
            sock.detach()
    return found


def frame(header: bytes, payload: bytes = b"", magic: bytes = b"CNF1", length=None):
    return magic + struct.pack(">I", len(header) if length is None else length) + header + payload
