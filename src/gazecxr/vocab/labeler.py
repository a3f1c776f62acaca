"""Rule-based report labeler: free text -> findings with present / negated / uncertain and regions.

Offline and deterministic, driven by the same dictionary as the writers (synonyms, region aliases,
certainty cues, NegEx-style negation cues). Steps per sentence: drop ``ignore_phrases``; find finding
mentions (longest synonym or pattern wins); for each mention take the nearest cue before it in its
clause (negation or certainty cue, scope ended by terminators and ``scope_words``) and any cue after
it in the same clause; attach each region alias to the nearest finding mention. MIMIC reports are
reduced to their FINDINGS and IMPRESSION sections (indications such as "r/o pneumonia" are not
findings); text without section headers (IU findings, dictations, generated reports) is used whole.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from gazecxr.vocab.dictionary import Dictionary, load_dictionary

_SECTION = re.compile(r"^\s*([A-Z][A-Z /&]{2,40}):", re.MULTILINE)
_KEEP_SECTIONS = ("FINDINGS", "IMPRESSION")
# Sentence boundaries: periods not inside numbers ("1.5 cm"), semicolons, question marks, newlines.
_SENTENCE = re.compile(r"(?<!\d)\.(?!\d)|[;!?\n]")
_PREPOSITION = re.compile(r"\b(?:in|at|within|of|over|involving|throughout)(?: the| both)?\s*$")
_LIST_BREAK = re.compile(r",|;|\band\b")
_STATUS_RANK = {"negated": 0, "uncertain": 1, "present": 2}


@dataclass
class LabeledFinding:
    """One finding of a text.

    Attributes:
        name: finding name (canonical, or an IU extra of the dictionary).
        status: "present", "negated" or "uncertain" (the strongest over all its mentions).
        regions: regions named for it (sorted; empty when none).
        certainty: certainty level expressed ("consistent with" ... "unlikely"), None for plain negation.
        evidence: the sentences that mention it.
    """

    name: str
    status: str
    regions: tuple[str, ...] = ()
    certainty: str | None = None
    evidence: list[str] = field(default_factory=list)

    @property
    def asserted(self) -> bool:
        """Present or uncertain (what label F1 and hallucination counting treat as positive)."""
        return self.status != "negated"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "regions": list(self.regions),
            "certainty": self.certainty,
            "evidence": self.evidence,
        }


def _alternation(phrases: list[str], plural: bool) -> str:
    """Whole-word, longest-first alternation of literal phrases (optionally with a plural suffix)."""
    parts = sorted({p.lower() for p in phrases if p}, key=len, reverse=True)
    suffix = "(?:s|es)?" if plural else ""
    body = "|".join(re.escape(p).replace(r"\ ", r"[\s-]+") for p in parts)
    return rf"(?<![\w-])(?:{body}){suffix}(?![\w-])"


def _norm(text: str) -> str:
    return re.sub(r"[\s-]+", " ", text.lower())


def _lookup(table: dict[str, Any], text: str) -> Any:
    """``table`` entry of a matched phrase (keys normalised by :func:`_norm`), tolerating plurals."""
    key = _norm(text)
    for cand in (key, key.replace(" ", "-")):
        for form in (
            cand,
            cand[:-1] if cand.endswith("s") else None,
            cand[:-2] if cand.endswith("es") else None,
        ):
            if form and form in table:
                return table[form]
    return None


class _Matchers:
    """Regular expressions compiled once per dictionary."""

    def __init__(self, d: Dictionary) -> None:
        self.synonym_to_finding: dict[str, str] = {}
        for f in d.findings.values():
            for s in (*f.synonyms, f.noun):
                self.synonym_to_finding.setdefault(_norm(s), f.name)
        self.findings = re.compile(_alternation(list(self.synonym_to_finding), plural=True))
        self.patterns = [
            (re.compile(p, re.IGNORECASE), f.name) for f in d.findings.values() for p in f.patterns
        ]
        self.ignore = (
            re.compile(_alternation(list(d.ignore_phrases), plural=False)) if d.ignore_phrases else None
        )
        self.alias_to_regions = d.alias_table()
        self.regions = re.compile(_alternation(list(self.alias_to_regions), plural=True))
        self.sides = re.compile(_alternation(list(d.sides), plural=False))
        self.side_to_regions = d.sides
        cues: dict[str, tuple[str, str | None]] = {}
        for c in d.negation_pre:
            cues[_norm(c)] = ("neg", None)
        for lv in d.certainty:
            for c in lv.cues:
                cues[_norm(c)] = ("cert", lv.name)
        self.pre_cue_kind = cues
        self.pre_cues = re.compile(_alternation(list(cues), plural=False))
        post: dict[str, tuple[str, str | None]] = {_norm(c): ("neg", None) for c in d.negation_post}
        for lv in d.certainty:
            for c in lv.cues:
                post.setdefault(_norm(c), ("cert", lv.name))
        self.post_cue_kind = post
        self.post_cues = re.compile(_alternation(list(post), plural=False))
        self.terminators = re.compile(_alternation(list(d.terminators), plural=False))
        self.scope_words = d.scope_words
        self.levels = {lv.name: lv for lv in d.certainty}
        self.top_level = d.certainty[-1].name


@functools.lru_cache(maxsize=8)
def _matchers(d: Dictionary) -> _Matchers:
    return _Matchers(d)


def report_sections(text: str) -> str:
    """FINDINGS + IMPRESSION of a sectioned (MIMIC-style) report; the whole text when unsectioned."""
    heads = list(_SECTION.finditer(text))
    if not any(h.group(1).strip().upper() in _KEEP_SECTIONS for h in heads):
        return text
    keep = []
    for i, h in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        if h.group(1).strip().upper() in _KEEP_SECTIONS:
            keep.append(text[h.end() : end])
    return "\n".join(keep)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def _mentions(sentence: str, m: _Matchers) -> list[tuple[int, int, str]]:
    """Non-overlapping finding mentions (start, end, finding) in a lower-cased sentence."""
    spans = [
        (x.start(), x.end(), _lookup(m.synonym_to_finding, x.group(0))) for x in m.findings.finditer(sentence)
    ]
    spans += [(x.start(), x.end(), name) for rx, name in m.patterns for x in rx.finditer(sentence)]
    spans = [s for s in spans if s[2] is not None]
    spans.sort(key=lambda s: (-(s[1] - s[0]), s[0]))  # longest first
    chosen: list[tuple[int, int, str]] = []
    for s in spans:
        if all(s[1] <= c[0] or s[0] >= c[1] for c in chosen):
            chosen.append(s)
    return sorted(chosen)


def _classify(sentence: str, start: int, end: int, m: _Matchers) -> tuple[str, str | None]:
    """Status and certainty level of the mention at [start, end)."""
    pre = sentence[:start]
    terms = list(m.terminators.finditer(pre))
    if terms:
        pre = pre[terms[-1].end() :]
    words = pre.split()
    pre = " ".join(words[-m.scope_words :]) if words else ""
    post = sentence[end:]
    cut = [x.start() for x in m.terminators.finditer(post)] + [i for i in (post.find(","),) if i >= 0]
    post = post[: min(cut)] if cut else post

    post_cue = next(iter(m.post_cues.finditer(post)), None)
    if post_cue is not None:
        kind, level = m.post_cue_kind[_norm(post_cue.group(0))]
    else:
        cues = list(m.pre_cues.finditer(pre))
        if not cues:
            return "present", m.top_level
        kind, level = m.pre_cue_kind[_norm(cues[-1].group(0))]  # the nearest cue before the mention decides
    if kind == "neg":
        return "negated", None
    return m.levels[level].status, level


def _attach_cost(sentence: str, s: int, e: int, mention: tuple[int, int, str], prepositional: bool) -> float:
    """How far the alias at [s, e) is from a mention, in characters plus list-break / preposition penalties."""
    ms, me, _ = mention
    between = sentence[me:s] if me <= s else sentence[e:ms]
    penalty = 100 if _LIST_BREAK.search(between) else 0
    return max(ms - e, s - me, 0) + penalty + (200 if prepositional and ms > s else 0)


def _regions(sentence: str, mentions: list[tuple[int, int, str]], m: _Matchers) -> list[set[str]]:
    """Regions attached to each mention: every alias goes to its nearest mention.

    A comma or "and" between an alias and a mention makes it far (list items keep their own
    locations), and a prepositional alias ("in the left base") belongs to the mention before it.
    """
    out: list[set[str]] = [set() for _ in mentions]
    if not mentions:
        return out
    found = [
        (x.start(), x.end(), _lookup(m.alias_to_regions, x.group(0))) for x in m.regions.finditer(sentence)
    ]
    covered = [(s, e) for s, e, _ in found]
    found += [
        (x.start(), x.end(), m.side_to_regions[_norm(x.group(0))])
        for x in m.sides.finditer(sentence)
        if all(x.end() <= s or x.start() >= e for s, e in covered)
    ]
    for s, e, regions in found:
        # An alias lying entirely inside a finding mention ("hilar" in "hilar enlargement") names nothing.
        if regions is None or any(ms <= s and e <= me for ms, me, _ in mentions):
            continue
        prepositional = _PREPOSITION.search(sentence[max(0, s - 16) : s]) is not None

        costs = [_attach_cost(sentence, s, e, mention, prepositional) for mention in mentions]
        best = min(range(len(mentions)), key=lambda i: (costs[i], mentions[i][0] < s))
        out[best].update(regions)
    return out


def label_report(text: str, dictionary: Dictionary | None = None) -> list[LabeledFinding]:
    """Label a report.

    Args:
        text: report text (a MIMIC report with section headers, IU findings/impression, a
            dictation or a generated report).
        dictionary: vocabulary (default: the shipped dictionary).

    Returns:
        One :class:`LabeledFinding` per mentioned finding, in order of first mention. A finding
        mentioned several times gets the strongest status (present > uncertain > negated) and the
        regions of the mentions with that status.
    """
    m = _matchers(dictionary or load_dictionary())
    merged: dict[str, LabeledFinding] = {}
    for sentence in split_sentences(report_sections(text)):
        low = sentence.lower()
        if m.ignore is not None:
            low = m.ignore.sub(lambda x: " " * len(x.group(0)), low)
        mentions = _mentions(low, m)
        for (start, end, name), regions in zip(mentions, _regions(low, mentions, m), strict=False):
            status, level = _classify(low, start, end, m)
            old = merged.get(name)
            if old is None or _STATUS_RANK[status] > _STATUS_RANK[old.status]:
                merged[name] = LabeledFinding(
                    name, status, tuple(sorted(regions)), level, (old.evidence if old else []) + [sentence]
                )
                continue
            if sentence not in old.evidence:
                old.evidence.append(sentence)
            if status == old.status:
                old.regions = tuple(sorted(set(old.regions) | regions))
                if level is not None and (
                    old.certainty is None or m.levels[level].rank > m.levels[old.certainty].rank
                ):
                    old.certainty = level
    return list(merged.values())
