"""Reports, dictations and label tables, all from one list of :class:`Mention` objects.

A mention is what a radiologist says about one finding: its certainty on the REFLACX scale
(5 consistent with, 4 suspicious for, 3 possibly, 2 less likely, 1 unlikely; 0 = explicit
negative), the regions and severity. The written report, the spoken dictation and every label
table are produced from the same mentions, so the wording and the labels cannot disagree:

- CheXpert table: certainty 5 -> 1.0; 3-4 (hedged: "possible", "suspicious for") -> -1.0;
  1-2 ("unlikely") and explicit negatives -> 0.0; not mentioned -> empty.
- NegBio table: as CheXpert, except "less likely" (2) -> -1.0 (the two labelers disagree on it).
- REFLACX metadata: the certainty itself (0 when not mentioned); support devices True/False.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gazecxr.synth.findings import SIDES, Finding

CERTAINTY_WORDS = {5: "consistent with", 4: "suspicious for", 3: "possibly", 2: "less likely", 1: "unlikely"}
CHEXPERT_COLUMN = {
    "Atelectasis": "Atelectasis",
    "Consolidation": "Consolidation",
    "Enlarged cardiac silhouette": "Cardiomegaly",
    "Lung nodule or mass": "Lung Lesion",
    "Pleural abnormality": "Pleural Effusion",
    "Pneumothorax": "Pneumothorax",
    "Pulmonary edema": "Edema",
    "Support devices": "Support Devices",
}
# Regions a reader looks at when stating that a finding is absent.
NEGATIVE_REGIONS = {
    "Pneumothorax": ("right upper lung zone", "left upper lung zone"),
    "Pleural abnormality": ("right costophrenic angle", "left costophrenic angle"),
    "Enlarged cardiac silhouette": ("cardiac silhouette",),
    "Pulmonary edema": ("right hilar structures", "left hilar structures"),
    "Consolidation": ("right lung", "left lung"),
    "Lung nodule or mass": ("right lung", "left lung"),
    "Atelectasis": ("right lower lung zone", "left lower lung zone"),
}
REGION_WORDS = {
    "upper lung zone": "upper lung",
    "mid lung zone": "mid lung",
    "lower lung zone": "lung base",
    "costophrenic angle": "costophrenic angle",
    "lung": "lung",
    "hilar structures": "hilum",
}
SEVERITY_WORDS = {
    "size": {"mild": "small", "moderate": "moderate", "severe": "large"},
    "degree": {"mild": "mild", "moderate": "moderate", "severe": "severe"},
}
NEGATIVE_TEXT = {
    "Pneumothorax": ("No pneumothorax.", "There is no pneumothorax."),
    "Pleural abnormality": ("No pleural effusion.", "There is no pleural effusion."),
    "Enlarged cardiac silhouette": ("No cardiomegaly.", "Heart size is normal without cardiomegaly."),
    "Pulmonary edema": ("No pulmonary edema.", "There is no pulmonary edema."),
    "Consolidation": ("No focal consolidation.", "There is no consolidation."),
    "Lung nodule or mass": ("No nodule or mass.", "No suspicious pulmonary nodule or mass."),
    "Atelectasis": ("No atelectasis.", "There is no atelectasis."),
}


@dataclass
class Mention:
    """What a reader states about one finding. ``targets``: indices of the drawn findings it
    refers to (empty for negatives and for mentions of absent findings)."""

    finding: str
    certainty: int
    regions: list[str]
    severity: str = "mild"
    kind: str = ""
    sides: tuple[int, ...] = ()
    targets: list[int] = field(default_factory=list)


@dataclass
class Sentence:
    """One sentence of a report/dictation and the regions/boxes the reader looks at meanwhile."""

    text: str
    mention: Mention | None = None


def positive_mentions(findings: list[Finding], certainty: dict[int, int]) -> list[Mention]:
    """Merge drawn findings into mentions (bilateral effusions become one mention).

    ``certainty`` maps finding index -> stated certainty; findings absent from it are missed.
    """
    out: list[Mention] = []
    by_name: dict[tuple[str, str], Mention] = {}
    for i, f in enumerate(findings):
        if i not in certainty:
            continue
        key = (f.name, f.kind) if f.name == "Pleural abnormality" else (f.name, f"{f.kind}#{i}")
        if key in by_name:
            m = by_name[key]
            m.targets.append(i)
            m.regions += [r for r in f.regions if r not in m.regions]
            m.sides = tuple(sorted({*m.sides, *(() if f.side is None else (f.side,))}))
            m.certainty = max(m.certainty, certainty[i])
            continue
        m = Mention(
            f.name,
            certainty[i],
            list(f.regions),
            f.severity,
            f.kind,
            () if f.side is None else (f.side,),
            [i],
        )
        by_name[key] = m
        out.append(m)
    return out


def _location(m: Mention) -> str:
    if len(m.sides) == 2:
        return "bilateral"
    region = m.regions[0] if m.regions else ""
    for suffix, word in REGION_WORDS.items():
        if region.endswith(suffix) and region.split(" ")[0] in SIDES:
            return f"{region.split(' ')[0]} {word}"
    return region


def sentence(m: Mention, style: int, spoken: bool = False) -> str:
    """One sentence stating ``m``: ``style`` (any int) picks one of three phrasings, a hedge form
    and a negative form; ``spoken`` shifts the phrasing (dictations word things differently)."""
    if m.certainty == 0:
        return NEGATIVE_TEXT[m.finding][style % 2]
    loc = _location(m)
    name = m.finding
    if name == "Support devices":
        text = {
            "endotracheal tube": (
                "Endotracheal tube terminates above the carina.",
                "ET tube in standard position.",
            ),
            "enteric tube": (
                "Enteric tube courses below the diaphragm into the stomach.",
                "NG tube tip in the stomach.",
            ),
            "central venous catheter": (
                "Right subclavian central venous catheter terminates in the SVC.",
                "Right central line with tip in the SVC.",
            ),
            "pacemaker": (
                "Left chest wall pacemaker with lead in the right ventricle.",
                "Pacemaker in place with a single lead.",
            ),
        }[m.kind]
        return text[int(spoken)]
    size = SEVERITY_WORDS["size"][m.severity]
    degree = SEVERITY_WORDS["degree"][m.severity]
    side = "bilateral" if len(m.sides) == 2 else (SIDES[m.sides[0]] if m.sides else "")
    nodule = m.kind or "nodule"
    term = {
        "Enlarged cardiac silhouette": (
            "cardiomegaly",
            f"{degree} cardiomegaly",
            "enlarged cardiac silhouette",
            f"{degree} enlargement of the cardiac silhouette",
        ),
        "Pleural abnormality": (
            "pleural effusion",
            f"{size} {side} pleural effusion" + ("s" if len(m.sides) == 2 else ""),
            f"{size} {side} effusion" + ("s" if len(m.sides) == 2 else ""),
            f"{size} {side} layering pleural effusion" + ("s" if len(m.sides) == 2 else ""),
        ),
        "Consolidation": (
            "consolidation",
            f"consolidation in the {loc}",
            f"airspace opacity in the {loc} consistent with consolidation",
            f"focal consolidation in the {loc}",
        ),
        "Atelectasis": (
            "atelectasis",
            f"{degree} atelectasis at the {loc}",
            f"{loc} atelectasis",
            f"subsegmental atelectasis in the {loc}",
        ),
        "Pulmonary edema": (
            "pulmonary edema",
            f"{degree} pulmonary edema",
            f"perihilar haziness of {degree} pulmonary edema",
            f"interstitial pulmonary edema, {degree}",
        ),
        "Lung nodule or mass": (
            nodule,
            f"{size} {nodule} in the {loc}",
            f"{nodule} in the {loc}",
            f"{size} {nodule} projecting over the {loc}",
        ),
        "Pneumothorax": (
            "pneumothorax",
            f"{size} {side} pneumothorax",
            f"{size} {side} apical pneumothorax",
            f"{side} pneumothorax, {size}",
        ),
    }[name]
    detail = term[1 + (style + int(spoken)) % 3]
    c = m.certainty
    if c == 5:
        return _cap(detail) + "."
    if c == 4:
        return f"Findings suspicious for {detail}." if style % 2 == 0 else f"Probable {detail}."
    if c == 3:
        return f"Possible {detail}." if style % 2 == 0 else f"{_cap(detail)} cannot be excluded."
    return f"{_cap(term[0])} is {CERTAINTY_WORDS[c]}."


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


_PRIORITY = {1.0: 2, -1.0: 1, 0.0: 0}  # a positive statement wins over a hedge over a negative


def chexpert_row(sentences: list[Sentence], negbio: bool = False) -> dict[str, float]:
    """CheXpert-style labels of one report (see the module docstring for the rule).

    Columns not mentioned are absent from the result (written as empty cells).
    """
    values: dict[str, float] = {}

    def put(col: str, v: float) -> None:
        if col not in values or _PRIORITY[v] > _PRIORITY[values[col]]:
            values[col] = v

    for s in sentences:
        m = s.mention
        if m is None:
            continue
        if m.certainty == 5:
            v = 1.0
        elif m.certainty in (3, 4) or (negbio and m.certainty == 2):
            v = -1.0
        else:
            v = 0.0
        put(CHEXPERT_COLUMN[m.finding], v)
        if "opacity" in s.text.lower():
            put("Lung Opacity", v)
    if not any(v in (1.0, -1.0) for k, v in values.items() if k != "Support Devices"):
        values["No Finding"] = 1.0
    return values


def report_text(
    mentions: list[Mention], rng: np.random.Generator, view: str, sex: str, indication: str
) -> tuple[str, list[Sentence]]:
    """A MIMIC-CXR-style free-text report (sections vary, PHI shown as ``___``).

    Returns the text and the sentences of it that state findings (for the label tables): when
    the FINDINGS section is left out, its negatives and device lines are not in the report, so
    they are not labelled either.
    """
    style = int(rng.integers(3))
    stated = [Sentence(sentence(m, style), m) for m in mentions if m.certainty > 0]
    stated += [Sentence(sentence(m, style), m) for m in mentions if m.certainty == 0]
    in_impression = [
        s for s in stated if s.mention and s.mention.certainty >= 3 and s.mention.finding != "Support devices"
    ]
    findings_text = " ".join(s.text for s in stated) or "The lungs are clear."
    impression = " ".join(s.text for s in in_impression) or "No acute cardiopulmonary process."
    who = "man" if sex == "M" else "woman"
    exam = "CHEST (PORTABLE AP)" if view == "AP" else "CHEST (PA AND LAT)"
    lines = [
        "                                 FINAL REPORT",
        f" EXAMINATION:  {exam}",
        "",
        f" INDICATION:  ___ year old {who} with {indication}  // ___",
    ]
    if rng.random() < 0.7:
        lines += [
            "",
            " TECHNIQUE:  " + ("Portable AP chest radiograph" if view == "AP" else "Chest PA and lateral"),
        ]
    if rng.random() < 0.6:
        lines += ["", " COMPARISON:  " + ("___" if rng.random() < 0.7 else "None.")]
    has_findings = rng.random() < 0.9  # some reports have only an impression
    if has_findings:
        lines += ["", " FINDINGS:", ""] + _wrap(findings_text)
    lines += ["", " IMPRESSION:", ""] + _wrap(impression)
    return "\n".join(lines) + "\n", stated if has_findings else in_impression


def _wrap(text: str, width: int = 76) -> list[str]:
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(" " + cur)
            cur = word
        else:
            cur = f"{cur} {word}".strip()
    if cur:
        lines.append(" " + cur)
    return lines


def dictation(mentions: list[Mention], style: int, view: str) -> list[Sentence]:
    """The spoken report of one reading: an opening, positives, then negatives."""
    opening = "Single portable AP view of the chest." if view == "AP" else "PA view of the chest."
    out = [Sentence(opening)] if style % 2 == 0 else []
    out += [Sentence(sentence(m, style, spoken=True), m) for m in mentions if m.certainty > 0]
    out += [Sentence(sentence(m, style, spoken=True), m) for m in mentions if m.certainty == 0]
    if not any(m.certainty >= 3 for m in mentions):
        out.append(Sentence("No acute cardiopulmonary abnormality."))
    return out


def tokens(text: str) -> list[str]:
    """Words with punctuation as separate tokens (REFLACX ``timestamps_transcription.csv``)."""
    out: list[str] = []
    for word in text.split():
        core = word.rstrip(".,;:")
        if core:
            out.append(core)
        out += list(word[len(core) :])
    return out
