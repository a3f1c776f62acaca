"""An object whose unpickling runs code: what a hostile state or weights file holds."""

from __future__ import annotations


class Hostile:
    def __reduce__(self):  # noqa: ANN204
        return (print, ("pwned",))
