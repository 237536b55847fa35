"""Words for a target that cannot be found: "no such file or folder" for what reads as a path,
"did you mean" for a near miss of a known implementation's name."""

from __future__ import annotations

import difflib
import os

UNKNOWN = "unknown implementation"


def looks_like_a_path(spec: str) -> bool:
    return "/" in spec or os.sep in spec or spec.endswith(".py") or spec.startswith(".")


def known_names() -> list[str]:
    from conformance.running import targets as registry

    return list(dict.fromkeys(registry.builtin_names() + registry.installed_names()))


def explained(spec: str, reason: str) -> str:
    """The registry's reason, made precise where the target names nothing that exists."""
    if not reason.startswith(UNKNOWN):
        return reason
    if looks_like_a_path(spec.partition(":")[0] if not os.path.exists(spec) else spec):
        return f"no such file or folder: {spec}"
    if close := difflib.get_close_matches(spec, known_names(), n=1, cutoff=0.6):
        return f"{UNKNOWN} {spec!r}: did you mean {close[0]!r}? (`conformance list` shows them all)"
    return reason
