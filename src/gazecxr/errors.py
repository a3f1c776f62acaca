"""Errors that mean "the input is wrong", not "the code is wrong".

Anything raised as :class:`InputError` carries a one-line message that names the file or folder
and what is wrong with it; the command line prints that line and exits with status 2, never a
traceback. Subclasses say which input (e.g. ``gazecxr.data.layout.DatasetRootError``).
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input, described in one line (file or folder, and the problem)."""
