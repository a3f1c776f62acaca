"""Lazy package namespaces: every ``gazecxr.<package>/__init__.py`` names its public members and
the module that defines each, and imports that module on first access only.

So importing a package (which ``import gazecxr.data.config`` does) never imports torch or another
stage, and package ``__init__`` files take no part in import cycles.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_members(
    package: str, members: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """(``__getattr__``, ``__dir__``, ``__all__``) for ``package`` whose public ``members`` map
    each name to its defining module."""

    def __getattr__(name: str) -> Any:
        if name in members:
            return getattr(importlib.import_module(members[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(members)

    return __getattr__, __dir__, sorted(members)
