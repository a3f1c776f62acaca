"""Errors that mean "the input is wrong", not "the code is wrong".

Anything raised as :class:`InputError` carries a one-line message that names the file or folder
and what is wrong with it; the command line prints that line and exits with status 2, never a
traceback. Subclasses say which input (e.g. ``gazecxr.data.layout.DatasetRootError``).
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input, described in one line (file or folder, and the problem)."""


def require_regular_file(path: object, what: str = "file") -> None:
    """InputError unless ``path`` is a regular file: a FIFO would block its reader forever, and a
    symlink loop, a folder or a name too long are refused in one line before anything opens it."""
    import os
    import stat

    try:
        mode = os.stat(path).st_mode  # type: ignore[arg-type]
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found") from None
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{path}: {what} cannot be opened ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise InputError(f"{path}: {kind}, not a {what}")


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
