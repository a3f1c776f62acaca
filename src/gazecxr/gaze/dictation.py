"""Per-label gaze maps from the dictation: where the radiologist looked while saying each finding.

REFLACX and EyeGaze record word timestamps of the dictated report next to the fixations. A
radiologist's eyes reach what a sentence talks about shortly before the words (the eye-voice span)
and stay until the sentence ends, so the fixations made while a finding is dictated locate *that*
finding, whereas the whole reading's heatmap mixes the search of the lungs with every finding.
Sentences are labelled with the project's rule-based labeler (:mod:`gazecxr.vocab.labeler`);
a finding stated as present or uncertain counts, a negated one does not ("no pneumothorax" says
nothing about where a pneumothorax is).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gazecxr.gaze.config import GazeConfig
from gazecxr.gaze.fixations import T_END, T_START, reading_heatmap

# Tokens or word endings that close a dictated sentence.
_SENTENCE_END = (".", ";", "?", "!")

Span = tuple[float, float]


def dictated_sentences(words: Sequence[Sequence[Any]]) -> list[tuple[str, float, float]]:
    """Group timed words ``[word, start s, end s]`` into sentences ``(text, start s, end s)``.

    Words with a missing (NaN) time keep their text but do not move the span; a sentence whose
    words all lack times is dropped (it cannot be placed in time).
    """
    out: list[tuple[str, float, float]] = []
    text: list[str] = []
    times: list[float] = []

    def close() -> None:
        if text and times:
            out.append((" ".join(text), min(times), max(times)))
        text.clear()
        times.clear()

    for word, start, end in words:
        token = str(word).strip()
        if token:
            text.append(token)
        times += [float(t) for t in (start, end) if t == t]  # NaN != NaN
        if token.endswith(_SENTENCE_END):
            close()
    close()
    return out


def dictated_spans(
    words: Sequence[Sequence[Any]], labels: Sequence[str], lead_s: float
) -> dict[str, list[Span]]:
    """Time windows in which each label of ``labels`` was dictated as present or uncertain.

    Args:
        words: the reading's transcript words ``[word, start s, end s]``.
        labels: label names of the label set (labeler names that are not in it are ignored).
        lead_s: eye-voice span: a window opens this long before its sentence's first word.

    Returns:
        label -> list of ``(start s, end s)`` windows (labels never dictated are absent).
    """
    from gazecxr.vocab.labeler import label_report

    wanted = set(labels)
    spans: dict[str, list[Span]] = {}
    for sentence, start, end in dictated_sentences(words):
        for finding in label_report(sentence):
            if finding.asserted and finding.name in wanted:
                spans.setdefault(finding.name, []).append((start - lead_s, end))
    return spans


def dictation_heatmaps(
    fix: np.ndarray,
    spans: dict[str, list[Span]],
    labels: Sequence[str],
    image_size: tuple[int, int],
    out_size: tuple[int, int],
    cfg: GazeConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """One heatmap per label from the fixations made while that label was dictated.

    Args:
        fix: selected fixations of the reading (rows as :func:`gazecxr.gaze.fixations.reading_heatmap`
            takes them; columns 2 and 3 are start and end times in seconds).
        spans: :func:`dictated_spans` of the reading.
        labels: label names, length ``C``.
        image_size, out_size: ``(H, W)`` of the image and of the maps.
        cfg: heatmap settings (sigma, weights, crop), as for the reading's heatmap.

    Returns:
        ``(C, h, w)`` float32 maps, each summing to 1 or all zeros, and ``(C,)`` bool: whether the
        label has a map (it was dictated and at least ``cfg.dictation_min_fixations`` fixations
        overlap its windows).
    """
    maps = np.zeros((len(labels), *out_size), dtype=np.float32)
    valid = np.zeros(len(labels), dtype=bool)
    if not len(fix):
        return maps, valid
    for c, name in enumerate(labels):
        windows = spans.get(name)
        if not windows:
            continue
        during = np.zeros(len(fix), dtype=bool)
        for t0, t1 in windows:
            during |= (fix[:, T_END] > t0) & (fix[:, T_START] < t1)
        if int(during.sum()) < cfg.dictation_min_fixations:
            continue
        maps[c] = reading_heatmap(fix[during], image_size, out_size, cfg)
        valid[c] = bool(maps[c].sum() > 0)
    return maps, valid
