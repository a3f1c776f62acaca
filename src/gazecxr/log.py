"""Logging set-up shared by the CLI verbs (standard :mod:`logging`, one handler on stderr)."""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "gazecxr"


def setup_logging(verbosity: int = 0) -> logging.Logger:
    """Configure the ``gazecxr`` logger.

    Args:
        verbosity: -1 quiet (warnings and errors), 0 normal (info), 1 verbose (debug).
    """
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    if not any(getattr(h, "_gazecxr", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
        handler._gazecxr = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = False
    return logger


_PROGRESS_BARS = True


def hide_progress_bars() -> None:
    """Hide progress bars in this process (e.g. in parallel workers, whose bars would interleave)."""
    global _PROGRESS_BARS
    _PROGRESS_BARS = False


def progress_disabled() -> bool:
    """Progress bars are hidden when the logger is quieter than INFO (``--quiet``) or by
    :func:`hide_progress_bars`."""
    return not _PROGRESS_BARS or logging.getLogger(LOGGER_NAME).getEffectiveLevel() > logging.INFO
