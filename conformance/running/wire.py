"""The data-only wire format between the grading process and a sandboxed worker.

The grader writes requests (pickled: the grader is the trusted side, and the
worker may unpickle what it sends); the worker writes replies, which the
grader reads as *data only*, never unpickled or evaluated:

    frame := MAGIC (4 bytes) · header length (u32, big-endian) · JSON header · array bytes

The header is ``{"id": n, "status": "ok" | "fault", "body": ..., "arrays":
[{"dtype": ..., "shape": [...]}, ...]}``; inside ``body`` an array is
``{"$array": k}``, its raw C-order little-endian bytes the k-th slice of what
follows the header. Dtypes come from a whitelist (no object, no structured
dtype), so an array is rebuilt with ``np.frombuffer`` and nothing else; this
is what ``np.load(..., allow_pickle=False)`` would do with an ``.npy`` file,
without a second header to parse.

``read_reply`` reads one frame under one deadline over the whole reply (not
only its first byte), with the header and the arrays bounded before anything
is allocated. Anything that breaks the format raises ``MalformedReply``; the
grader turns it into the case's ``error`` row.
"""

from __future__ import annotations

import json
import math
import pickle
import socket
import struct
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

MAGIC = b"CNF1"
_PREFIX = struct.Struct(">4sI")
_REQUEST = struct.Struct(">Q")

#: The dtypes a reply may carry, by the name the header gives.
DTYPES = {name: np.dtype(name).newbyteorder("<") for name in (
    "float16", "float32", "float64", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "bool")}
MAX_HEADER_BYTES = 1 << 20
MAX_NDIM = 8
MAX_TEXT = 2000


class MalformedReply(Exception):
    """A reply that breaks the wire format or is not what the request can get back."""


class ReplyTimeout(Exception):
    """The whole reply did not arrive before the deadline."""


class WorkerGone(Exception):
    """The worker closed its end (it exited or crashed)."""


@dataclass(frozen=True)
class NotAnArray:
    """A value the implementation returned that is no numeric array (a string, an object
    array, a ragged list): it reaches the comparison as a description only."""

    description: str

    def __array__(self, dtype=None, copy=None):  # what the comparison's np.asarray sees
        return np.array(self.description, dtype=object)


# ---- text from the worker ------------------------------------------------------------------

def clean_text(value: object, limit: int = MAX_TEXT) -> str:
    """Text the worker sent, safe for a terminal and a spreadsheet: control characters
    (newlines, escape codes) become spaces, a leading ``= + - @`` is quoted, length bounded."""
    text = str(value)
    text = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if text[:1] in ("=", "+", "-", "@"):
        text = "'" + text
    return text


# ---- the worker's side: encoding ----------------------------------------------------------

def encode_value(value: Any, arrays: list[np.ndarray]) -> Any:
    """``value`` as JSON-able data: arrays (and numbers, which become 0-d arrays) are
    appended to ``arrays`` and referenced; None, str, bool, lists and dicts recurse."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if type(value) is int and abs(value) < 1 << 53 or type(value) is float and math.isfinite(value):
        return value
    if isinstance(value, dict):
        return {str(k): encode_value(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not _numeric_sequence(value):
        return [encode_value(v, arrays) for v in value]
    try:
        array = np.asarray(value)
    except Exception as error:  # a ragged list, an object whose __array__ raises
        return {"$unusable": f"{type(value).__name__} ({type(error).__name__})"}
    name = array.dtype.name
    if name not in DTYPES:
        return {"$unusable": f"{type(value).__name__} of dtype {array.dtype}"}
    arrays.append(np.asarray(array, dtype=DTYPES[name], order="C"))  # 0-d stays 0-d
    return {"$array": len(arrays) - 1}


def _numeric_sequence(value: list | tuple) -> bool:
    """A list of numbers (or of such lists) is one array, as the comparison would read it."""
    return bool(value) and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) or
                               (isinstance(v, (list, tuple)) and _numeric_sequence(v)) for v in value)


def encode_reply(request_id: int, status: str, body: Any) -> bytes:
    arrays: list[np.ndarray] = []
    encoded = encode_value(body, arrays)
    header = {"id": request_id, "status": status, "body": encoded,
              "arrays": [{"dtype": a.dtype.name, "shape": list(a.shape)} for a in arrays]}
    text = json.dumps(header, allow_nan=False, separators=(",", ":")).encode()
    return _PREFIX.pack(MAGIC, len(text)) + text + b"".join(a.tobytes() for a in arrays)


def write_request(sock: socket.socket, request: Any) -> None:
    """The grader's request, pickled (the worker trusts the grader, not the other way round)."""
    payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_REQUEST.pack(len(payload)) + payload)


def read_request(sock: socket.socket) -> Any:
    """The next request in the worker; None when the grader closed the connection."""
    head = _read_exactly(sock, _REQUEST.size, deadline=None, eof_ok=True)
    if head is None:
        return None
    (length,) = _REQUEST.unpack(head)
    return pickle.loads(_read_exactly(sock, length, deadline=None))


# ---- the grader's side: decoding ----------------------------------------------------------

@dataclass(frozen=True)
class Reply:
    request_id: int
    status: str
    body: Any


def _read_exactly(sock: socket.socket, n: int, deadline: float | None, eof_ok: bool = False) -> bytes | None:
    chunks, left = [], n
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReplyTimeout()
            sock.settimeout(remaining)
        try:
            chunk = sock.recv(min(left, 1 << 20))
        except socket.timeout:
            raise ReplyTimeout() from None
        except (ConnectionError, OSError):
            chunk = b""
        if not chunk:
            if eof_ok and left == n:
                return None
            raise WorkerGone()
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_reply(sock: socket.socket, deadline: float, max_array_bytes: int) -> Reply:
    """One reply frame, read before ``deadline`` (``time.monotonic()``), its arrays at most
    ``max_array_bytes`` in all; ``MalformedReply``, ``ReplyTimeout`` or ``WorkerGone`` otherwise."""
    magic, length = _PREFIX.unpack(_read_exactly(sock, _PREFIX.size, deadline))
    if magic != MAGIC:
        raise MalformedReply("the frame does not start with the format's marker")
    if length > MAX_HEADER_BYTES:
        raise MalformedReply(f"a header of {length} bytes (at most {MAX_HEADER_BYTES})")
    header = _parse_header(_read_exactly(sock, length, deadline))
    specs = [_array_spec(spec) for spec in header["arrays"]]
    total = sum(size for _, _, size in specs)
    if total > max_array_bytes:
        raise MalformedReply(f"{total} bytes of arrays where this request needs at most {max_array_bytes}")
    payload = bytearray(_read_exactly(sock, total, deadline)) if total else bytearray()  # writable arrays
    arrays, offset = [], 0
    for dtype, shape, size in specs:
        arrays.append(np.frombuffer(payload, dtype=dtype, count=math.prod(shape), offset=offset).reshape(shape))
        offset += size
    return Reply(header["id"], header["status"], _decode(header["body"], arrays, depth=0))


def _parse_header(raw: bytes) -> dict:
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise MalformedReply(f"the header is not JSON ({type(error).__name__})") from None
    if not (isinstance(header, dict) and set(header) == {"id", "status", "body", "arrays"}):
        raise MalformedReply("the header lacks id, status, body and arrays, or has more")
    if not isinstance(header["id"], int) or header["status"] not in ("ok", "fault") \
            or not isinstance(header["arrays"], list):
        raise MalformedReply("the header's id, status or arrays have the wrong type")
    return header


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _array_spec(spec: object) -> tuple[np.dtype, tuple[int, ...], int]:
    if not (isinstance(spec, dict) and set(spec) == {"dtype", "shape"}):
        raise MalformedReply("an array is described by anything but its dtype and shape")
    dtype, shape = DTYPES.get(spec["dtype"]) if isinstance(spec["dtype"], str) else None, spec["shape"]
    if dtype is None:
        raise MalformedReply(f"dtype {clean_text(spec['dtype'], 40)!r} is not one a reply may carry")
    if not (isinstance(shape, list) and len(shape) <= MAX_NDIM
            and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 1 << 40 for n in shape)):
        raise MalformedReply(f"an array's shape is not up to {MAX_NDIM} sizes")
    return dtype, tuple(shape), math.prod(shape) * dtype.itemsize


def _decode(value: Any, arrays: list[np.ndarray], depth: int) -> Any:
    if depth > 16:
        raise MalformedReply("the reply nests too deeply")
    if isinstance(value, dict):
        if set(value) == {"$array"}:
            index = value["$array"]
            if not (isinstance(index, int) and 0 <= index < len(arrays)):
                raise MalformedReply("a reference to an array that was not sent")
            return arrays[index]
        if set(value) == {"$unusable"}:
            return NotAnArray(clean_text(value["$unusable"], 200))
        return {k: _decode(v, arrays, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, arrays, depth + 1) for v in value]
    return value
