"""The base of every configuration section, in a module of its own.

Each package's schema (``gazecxr/<package>/config.py``) derives from :class:`Section`;
:mod:`gazecxr.experiment` assembles them and :mod:`gazecxr.config` loads YAML into them. Keeping
the base here means neither of those two imports the other's dependants back.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

CONFIG_VERSION = 1


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message says where and what to change."""


class Section(BaseModel):
    """Base class of every configuration section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())
