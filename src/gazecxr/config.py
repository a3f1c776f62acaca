"""Experiment configuration: versioned YAML files validated on load.

A config file is YAML whose keys mirror :class:`ExperimentConfig`. It may name another file to
start from with ``base: other.yaml`` (path relative to the file); keys in the file then override
the base, recursively. Command-line overrides are ``dotted.key=value`` strings whose value is parsed
as YAML (``train.epochs=3``, ``loss.gaze.enabled=false``, ``data.label_set=paper8``).

Every section is a pydantic model with ``extra="forbid"``: an unknown or mistyped key raises
:class:`ConfigError` naming the key, the file (or "command line") and the closest valid key.
Each section's schema lives next to the code that uses it (``gazecxr/<package>/config.py``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, overload

import yaml
from pydantic import BaseModel, ValidationError

from gazecxr.experiment import ExperimentConfig
from gazecxr.schema import CONFIG_VERSION, ConfigError

__all__ = [
    "CONFIG_VERSION",
    "SHIPPED_CONFIGS",
    "find_config",
    "shipped_configs",
    "deep_merge",
    "load_config",
    "parse_override",
    "read_yaml",
    "save_config",
    "to_dict",
]


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated recursively by ``update`` (mappings merge, everything else replaces)."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def read_yaml(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a config file, resolving its ``base:`` chain. Errors name the file."""
    try:
        path = Path(path).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise ConfigError(f"{path}: cannot be opened ({exc})") from None
    if path in _seen:
        raise ConfigError(f"{path}: 'base' chain loops back to this file")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys, got {type(raw).__name__}")
    base = raw.pop("base", None)
    if base is None:
        return raw
    return deep_merge(read_yaml(path.parent / base, (*_seen, path)), raw)


def control_characters(text: str) -> list[str]:
    """The control characters (newline, tab, escape, ...) in ``text``, as ``repr`` escapes."""
    return sorted({repr(c)[1:-1] for c in text if ord(c) < 32 or ord(c) == 127})


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into (["a", "b", "c"], parsed value).

    An override holding a control character is refused: it cannot be one line of a cluster plan
    (a newline would split the task in two) and no config value needs one.
    """
    if bad := control_characters(text):
        raise ConfigError(
            f"command-line override {text!r} holds control character(s) {', '.join(bad)}; refused"
        )
    if "=" not in text:
        raise ConfigError(
            f"command-line override {text!r} is not of the form key=value (e.g. train.epochs=3)"
        )
    key, _, value = text.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"command-line override {text!r} has an empty key")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return parts, parsed


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key=value`` overrides to a raw config mapping (returns a new mapping)."""
    out = dict(data)
    for text in overrides:
        parts, value = parse_override(text)
        nested: Any = value
        for part in reversed(parts):
            nested = {part: nested}
        out = deep_merge(out, nested)
    return out


def _valid_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Field names valid at location ``loc`` (the parent of the offending key)."""
    current: Any = model
    for part in loc:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = field.annotation
    return list(getattr(current, "model_fields", {}).keys())


def format_validation_error(exc: ValidationError, model: type[BaseModel], source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        dotted = ".".join(loc)
        if err["type"] == "extra_forbidden":
            valid = _valid_keys(model, loc[:-1])
            hint = difflib.get_close_matches(loc[-1], valid, n=1)
            suggestion = f" (did you mean '{'.'.join([*loc[:-1], hint[0]])}'?)" if hint else ""
            lines.append(f"{source}: unknown key '{dotted}'{suggestion}; valid keys here: {', '.join(valid)}")
        else:
            lines.append(f"{source}: key '{dotted}': {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def validate(data: Mapping[str, Any], source: str, model: type[BaseModel] | None = None) -> Any:
    """Validate a raw mapping against ``model`` (default: the experiment config)."""
    model = model or ExperimentConfig
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, model, source)) from None


# The versioned configs ship inside the package (``gazecxr configs list``); the checkout's
# ``configs/`` is a link to this folder.
SHIPPED_CONFIGS = Path(__file__).resolve().parent / "configs"


def shipped_configs() -> list[str]:
    """Names (relative paths) of the configs that ship with the package, e.g. ``synth/default.yaml``."""
    return sorted(p.relative_to(SHIPPED_CONFIGS).as_posix() for p in SHIPPED_CONFIGS.rglob("*.yaml"))


def find_config(path: str | Path) -> Path:
    """``path`` when that file exists, else the shipped config of that name (``.yaml`` optional,
    a leading ``configs/`` ignored), so ``--config synthetic.yaml`` works from any directory.

    Raises:
        ConfigError: neither exists (the message lists the shipped names).
    """
    given = Path(path)
    if given.is_file():
        return given
    name = given.as_posix().removeprefix("configs/")
    for candidate in (name, f"{name}.yaml"):
        if (SHIPPED_CONFIGS / candidate).is_file():
            return SHIPPED_CONFIGS / candidate
    raise ConfigError(
        f"config file not found: {path} (neither a file nor a shipped config; shipped: "
        f"{', '.join(shipped_configs())}; see `gazecxr configs list`)"
    )


M = TypeVar("M", bound=BaseModel)


@overload
def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> ExperimentConfig: ...


@overload
def load_config(path: str | Path | None, overrides: Sequence[str], model: type[M]) -> M: ...


@overload
def load_config(path: str | Path | None = None, overrides: Sequence[str] = (), *, model: type[M]) -> M: ...


def load_config(
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    model: type[BaseModel] | None = None,
) -> BaseModel:
    """Load, merge and validate a config: an :class:`ExperimentConfig`, or a ``model`` instance.

    Args:
        path: YAML file or the name of a shipped config (:func:`find_config`), or ``None`` for
            the built-in defaults.
        overrides: ``dotted.key=value`` strings applied after the file.
        model: schema to validate against (default :class:`gazecxr.experiment.ExperimentConfig`).

    Raises:
        ConfigError: the file is missing or invalid, or a key is unknown; the message names
            the key and the file (overrides are checked separately and named "command line").
    """
    path = find_config(path) if path is not None else None
    raw = read_yaml(path) if path is not None else {}
    source = str(path) if path is not None else "defaults"
    validate(raw, source, model)  # errors in the file are reported against the file
    return validate(apply_overrides(raw, overrides), f"command line (on top of {source})", model)


def to_dict(cfg: BaseModel) -> dict[str, Any]:
    """Plain, YAML-serialisable dict of a config (paths as strings, tuples as lists)."""
    return cfg.model_dump(mode="json")


def save_config(cfg: BaseModel, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")
