"""Errors that mean "the input is wrong", not "the code is wrong".

Anything raised as :class:`InputError` carries a one-line message that names the file or folder
and what is wrong with it; the command line prints that line and exits with status 2, never a
traceback. Subclasses say which input (e.g. ``gazecxr.data.layout.DatasetRootError``).
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input, described in one line (file or folder, and the problem)."""


def regular_file_problem(path: object) -> str | None:
    """Why ``path`` is not a regular file that can be opened, or None when it is: missing, a
    symlink loop, a name too long, a FIFO (which would block its reader forever), a folder."""
    import os
    import stat

    try:
        mode = os.stat(path).st_mode  # type: ignore[arg-type]
    except FileNotFoundError:
        return "not found"
    except (OSError, RuntimeError, ValueError) as exc:  # ELOOP, ENAMETOOLONG, EACCES, NUL in name
        return f"cannot be opened ({getattr(exc, 'strerror', None) or exc})"
    if stat.S_ISREG(mode):
        return None
    return "a FIFO" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode) else "not a regular file"


def require_regular_file(path: object, what: str = "file") -> None:
    """InputError naming ``path`` and :func:`regular_file_problem` unless it is a regular file."""
    if (problem := regular_file_problem(path)) is not None:
        raise InputError(f"{path}: {what}: {problem}")


def tensor_file_refusal(path: object, exc: BaseException) -> str:
    """One line for a tensor file that ``torch.load(weights_only=True)`` refused or could not read.

    torch's own message advises ``weights_only=False``, which would execute whatever a hostile
    file holds; it is never passed on. A file holding pickled objects other than tensors is named
    as such.
    """
    text = str(exc)
    if "weights_only" in text or "Unsupported global" in text or "GLOBAL" in text:
        return (
            f"{path}: holds pickled Python objects, not only tensors; refused (GazeCXR never "
            "unpickles code: give a .safetensors file or a plain dict of tensors)"
        )
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"{path}: not a readable tensor file ({type(exc).__name__}: {first[:200]})"
