"""The Stage-2 region vocabulary and finding dictionary (``dictionary.yaml``), loaded and validated.

One versioned YAML file holds everything the report writer and the labeler share: region
aliases, finding synonyms with region priors, wordings, the certainty scale and its probability
cut-points, negation cues. :func:`load_dictionary` validates it once (an unknown region or
finding raises :class:`DictionaryError` naming the file and the entry) and caches the result.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gazecxr.data.anatomy import REGIONS
from gazecxr.data.labels import FINDINGS

DEFAULT_PATH = Path(__file__).with_name("dictionary.yaml")
SUPPORTED_VERSION = 1
STATUSES = ("present", "negated", "uncertain")
FRAME_FIELDS = ("finding", "Finding", "a_finding", "A_finding", "is")  # placeholders of sentence frames


class DictionaryError(ValueError):
    """The dictionary file is invalid; the message names the file and the offending entry."""


@dataclass(frozen=True)
class CertaintyLevel:
    """One step of the certainty scale; ``rank`` 0 (unlikely) ... 4 (consistent with)."""

    name: str
    rank: int
    min_p: float
    target_ppv: float
    status: str
    cues: tuple[str, ...]
    frames: tuple[str, ...]
    impression: str


@dataclass(frozen=True)
class RegionEntry:
    name: str
    phrase: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class GroupEntry:
    name: str
    adjective: str
    regions: frozenset[str]
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class FindingEntry:
    name: str
    noun: str
    article: str
    plural: bool
    synonyms: tuple[str, ...]
    patterns: tuple[str, ...]
    priors: dict[str, float]
    why: str
    locate: bool
    parenchymal: bool
    negative_noun: str | None
    negative_sentences: tuple[str, ...]
    mesh: tuple[str, ...]
    extra: bool


@dataclass(frozen=True, eq=False)  # hashed by identity: compiled matchers are cached per instance
class Dictionary:
    version: int
    source: str
    certainty: tuple[CertaintyLevel, ...]  # ordered by rank
    negation_pre: tuple[str, ...]
    negation_post: tuple[str, ...]
    terminators: tuple[str, ...]
    scope_words: int
    ignore_phrases: tuple[str, ...]
    regions: dict[str, RegionEntry]
    groups: dict[str, GroupEntry]
    sides: dict[str, tuple[str, ...]]
    findings: dict[str, FindingEntry]
    normal: dict[str, tuple[str, ...]]

    def level(self, name: str) -> CertaintyLevel:
        for lv in self.certainty:
            if lv.name == name:
                return lv
        raise KeyError(f"unknown certainty level {name!r}; levels: {[lv.name for lv in self.certainty]}")

    def certainty_for(self, probability: float) -> CertaintyLevel | None:
        """Highest level whose ``min_p`` is <= ``probability`` (None below the lowest cut-point)."""
        found = None
        for lv in self.certainty:
            if probability >= lv.min_p:
                found = lv
        return found

    @property
    def cutpoints(self) -> dict[str, float]:
        return {lv.name: lv.min_p for lv in self.certainty}

    def with_cutpoints(self, cutpoints: dict[str, float]) -> Dictionary:
        """A copy with new probability cut-points (e.g. from :func:`calibrate_cutpoints`)."""
        unknown = set(cutpoints) - {lv.name for lv in self.certainty}
        if unknown:
            raise KeyError(f"unknown certainty levels in cut-points: {sorted(unknown)}")
        levels = tuple(
            dataclasses.replace(lv, min_p=float(cutpoints.get(lv.name, lv.min_p))) for lv in self.certainty
        )
        mins = [lv.min_p for lv in levels]
        if any(b < a for a, b in zip(mins, mins[1:], strict=False)):
            raise ValueError(
                f"cut-points must not decrease along the scale, got {dict(zip(self.cutpoints, mins, strict=False))}"
            )
        return dataclasses.replace(self, certainty=levels)

    def alias_table(self) -> dict[str, tuple[str, ...]]:
        """Every region alias (lower case) -> the regions it stands for (sides excluded)."""
        table: dict[str, tuple[str, ...]] = {}
        for reg in self.regions.values():
            for alias in reg.aliases:
                table[alias.lower()] = (reg.name,)
        for grp in self.groups.values():
            for alias in grp.aliases:
                table[alias.lower()] = tuple(sorted(grp.regions))
        return table


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DictionaryError(f"{where}: expected a list of strings, got {value!r}")
    return tuple(value)


def _require(mapping: dict[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise DictionaryError(f"{where}: missing key {key!r}")
    return mapping[key]


def _check_regions(names: list[str] | tuple[str, ...], where: str) -> None:
    for name in names:
        if name not in REGIONS:
            raise DictionaryError(f"{where}: unknown region {name!r}; valid regions: {', '.join(REGIONS)}")


def parse_dictionary(raw: Any, source: str) -> Dictionary:
    """Validate a raw YAML mapping; every error names ``source`` and the entry."""
    if not isinstance(raw, dict):
        raise DictionaryError(f"{source}: top level must be a mapping")
    version = _require(raw, "version", source)
    if version != SUPPORTED_VERSION:
        raise DictionaryError(
            f"{source}: dictionary version {version!r} is not supported (expected {SUPPORTED_VERSION})"
        )

    levels = []
    for rank, entry in enumerate(_require(raw, "certainty", source)):
        where = f"{source}: certainty[{rank}]"
        status = _require(entry, "status", where)
        if status not in STATUSES:
            raise DictionaryError(f"{where}: status {status!r} is not one of {STATUSES}")
        levels.append(
            CertaintyLevel(
                name=_require(entry, "name", where),
                rank=rank,
                min_p=float(_require(entry, "min_p", where)),
                target_ppv=float(_require(entry, "target_ppv", where)),
                status=status,
                cues=_strings(entry.get("cues"), f"{where}.cues"),
                frames=_strings(_require(entry, "frames", where), f"{where}.frames"),
                impression=str(_require(entry, "impression", where)),
            )
        )
    for lv in levels:
        for frame in (*lv.frames, lv.impression):
            try:
                frame.format(**{k: "x" for k in FRAME_FIELDS})
            except (KeyError, IndexError, ValueError) as exc:
                raise DictionaryError(
                    f"{source}: certainty {lv.name!r}: frame {frame!r} is invalid "
                    f"(placeholders: {', '.join(FRAME_FIELDS)}): {exc!r}"
                ) from None
    mins = [lv.min_p for lv in levels]
    if any(b < a for a, b in zip(mins, mins[1:], strict=False)) or not all(0.0 <= m <= 1.0 for m in mins):
        raise DictionaryError(f"{source}: certainty min_p must be in [0, 1] and non-decreasing, got {mins}")

    regions = {}
    for name, entry in _require(raw, "regions", source).items():
        _check_regions([name], f"{source}: regions")
        where = f"{source}: regions.{name}"
        regions[name] = RegionEntry(
            name,
            str(_require(entry, "phrase", where)),
            _strings(_require(entry, "aliases", where), f"{where}.aliases"),
        )
    missing = [r for r in REGIONS if r not in regions]
    if missing:
        raise DictionaryError(f"{source}: regions section lacks {missing}")

    groups = {}
    for name, entry in (raw.get("groups") or {}).items():
        where = f"{source}: groups.{name}"
        members = _strings(_require(entry, "regions", where), f"{where}.regions")
        _check_regions(members, where)
        groups[name] = GroupEntry(
            name,
            str(_require(entry, "adjective", where)),
            frozenset(members),
            _strings(entry.get("aliases"), f"{where}.aliases"),
        )
    sides = {}
    for word, members in (raw.get("sides") or {}).items():
        members = _strings(members, f"{source}: sides.{word}")
        _check_regions(members, f"{source}: sides.{word}")
        sides[word.lower()] = members

    findings = {}
    for name, entry in _require(raw, "findings", source).items():
        where = f"{source}: findings.{name}"
        extra = bool(entry.get("extra", False))
        if not extra and name not in FINDINGS:
            raise DictionaryError(
                f"{where}: {name!r} is not a canonical finding (gazecxr.data.labels.FINDINGS); "
                "mark IU-only findings with 'extra: true'"
            )
        priors = entry.get("regions") or {}
        _check_regions(list(priors), where)
        for region, weight in priors.items():
            if not isinstance(weight, (int, float)) or not 0.0 < float(weight) <= 1.0:
                raise DictionaryError(
                    f"{where}: prior of region {region!r} must be in (0, 1], got {weight!r}"
                )
        negative = entry.get("negative") or {}
        findings[name] = FindingEntry(
            name=name,
            noun=str(_require(entry, "noun", where)),
            article=str(entry.get("article", "")),
            plural=bool(entry.get("plural", False)),
            synonyms=_strings(entry.get("synonyms"), f"{where}.synonyms"),
            patterns=_strings(entry.get("patterns"), f"{where}.patterns"),
            priors={k: float(v) for k, v in priors.items()},
            why=str(_require(entry, "why", where)),
            locate=bool(entry.get("locate", True)) and bool(priors),
            parenchymal=bool(entry.get("parenchymal", False)),
            negative_noun=negative.get("noun"),
            negative_sentences=_strings(negative.get("sentence"), f"{where}.negative.sentence"),
            mesh=_strings(entry.get("mesh"), f"{where}.mesh"),
            extra=extra,
        )
    uncovered = [f for f in FINDINGS if f not in findings]
    if uncovered:
        raise DictionaryError(f"{source}: findings section lacks canonical findings {uncovered}")

    neg = _require(raw, "negation", source)
    normal = {k: _strings(v, f"{source}: normal.{k}") for k, v in _require(raw, "normal", source).items()}
    for key in ("lungs_clear", "negatives", "impression_normal"):
        if not normal.get(key):
            raise DictionaryError(f"{source}: normal.{key} must list at least one sentence")
    return Dictionary(
        version=version,
        source=source,
        certainty=tuple(levels),
        negation_pre=_strings(neg.get("pre"), f"{source}: negation.pre"),
        negation_post=_strings(neg.get("post"), f"{source}: negation.post"),
        terminators=_strings(neg.get("terminators"), f"{source}: negation.terminators"),
        scope_words=int(neg.get("scope_words", 12)),
        ignore_phrases=_strings(raw.get("ignore_phrases"), f"{source}: ignore_phrases"),
        regions=regions,
        groups=groups,
        sides=sides,
        findings=findings,
        normal=normal,
    )


@functools.lru_cache(maxsize=8)
def _load_cached(path: str) -> Dictionary:
    p = Path(path)
    if not p.is_file():
        raise DictionaryError(f"dictionary file not found: {p}")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DictionaryError(f"{p}: not valid YAML: {exc}") from None
    return parse_dictionary(raw, str(p))


def load_dictionary(path: str | Path | None = None) -> Dictionary:
    """Load and validate a dictionary file (default: the shipped ``dictionary.yaml``); cached per path."""
    return _load_cached(str(Path(path or DEFAULT_PATH).resolve()))


def calibrate_cutpoints(
    probs: np.ndarray, labels: np.ndarray, dictionary: Dictionary | None = None, min_support: int = 10
) -> dict[str, float]:
    """Probability cut-points of the certainty scale from validation data.

    Each level's cut-point is the lowest probability ``c`` such that, among validation cases with
    ``p >= c`` (at least ``min_support`` of them), the observed positive rate is at least the level's
    ``target_ppv``: "suspicious for" then means "at least 60 % of cases called this were positive".
    Cut-points are made non-decreasing along the scale; a level whose target is never reached
    gets 1.0 (only certain predictions reach it).

    Args:
        probs: predicted probabilities in [0, 1], any shape (pooled over findings).
        labels: 0/1 ground truth of the same shape; NaN entries (unknown) are ignored.
        dictionary: whose scale to calibrate (default: the shipped dictionary).
        min_support: smallest number of cases above a cut-point for its positive rate to count.

    Returns:
        level name -> cut-point, usable with :meth:`Dictionary.with_cutpoints`.
    """
    dictionary = dictionary or load_dictionary()
    p = np.asarray(probs, dtype=float).ravel()
    y = np.asarray(labels, dtype=float).ravel()
    if p.shape != y.shape:
        raise ValueError(f"probs and labels differ in size: {p.shape} vs {y.shape}")
    keep = ~np.isnan(y)
    p, y = p[keep], y[keep]
    if p.size == 0:
        raise ValueError("no labelled validation cases to calibrate the certainty cut-points on")
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    support = np.arange(1, p.size + 1)
    ppv = np.cumsum(y_sorted) / support  # positive rate among the top-k, i.e. among p >= p_sorted[k-1]
    # Only the last index of a run of tied probabilities is a valid threshold.
    valid = np.append(p_sorted[1:] != p_sorted[:-1], True) & (support >= min_support)
    cuts: dict[str, float] = {}
    floor = 0.0
    for lv in dictionary.certainty:
        ok = np.flatnonzero(valid & (ppv >= lv.target_ppv))
        cut = float(p_sorted[ok.max()]) if ok.size else 1.0
        floor = max(floor, cut)
        cuts[lv.name] = floor
    return cuts
