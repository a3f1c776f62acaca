"""Simulated radiologists: what they report and where they look while doing it.

A reading has a *silent* phase (systematic search over the reader's habitual sequence of
regions, with extra fixations on findings the reader notices) and a *reporting* phase in which
each dictated sentence is accompanied by fixations on what it talks about: the eyes reach the
finding ~0.3-0.8 s before the words (eye-voice span) and stay until the sentence ends. So word
timestamps and fixations line up by construction.

Screen geometry is explicit: the shown crop of the image is fitted into the screen, fixations
are generated on the image, mapped to the screen and back (as the eye tracker did), with
measurement noise and occasional glances at the screen margin (off the image, or outside the
zoomed crop). Angular resolution = screen pixels per degree / display scale, so it scales with
the image size (74-132 px/deg at the real ~3000 px resolution).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gazecxr.synth.config import ReadersConfig
from gazecxr.synth.findings import Finding
from gazecxr.synth.language import NEGATIVE_REGIONS, Mention, Sentence, positive_mentions, tokens
from gazecxr.synth.phantom import Box

SEARCH = (
    "right upper lung zone",
    "right mid lung zone",
    "right lower lung zone",
    "right costophrenic angle",
    "left upper lung zone",
    "left mid lung zone",
    "left lower lung zone",
    "left costophrenic angle",
    "cardiac silhouette",
    "upper mediastinum",
    "trachea",
    "right hilar structures",
    "left hilar structures",
)


@dataclass(frozen=True)
class ReaderProfile:
    """Habits of one simulated radiologist (all times in seconds)."""

    ident: str
    fix_median: float  # median fixation duration
    words_per_s: float  # dictation speed
    silent: tuple[float, float]  # range of the silent-phase duration
    order: tuple[str, ...]  # search order over regions
    miss: float  # multiplier of the miss rate of subtle findings
    hedge: float  # multiplier of the hedge rate of subtle findings
    zoom: float  # multiplier of the zoom probability
    screen_ppd: float  # screen pixels per degree of visual angle (viewing distance)
    style: int  # phrasing variant
    negatives: tuple[str, ...]  # absent findings this reader habitually states


def _order(first_left: bool, top_down: bool, heart_first: bool) -> tuple[str, ...]:
    right, left = list(SEARCH[:4]), list(SEARCH[4:8])
    if not top_down:
        right, left = right[::-1], left[::-1]
    lungs = left + right if first_left else right + left
    centre = list(SEARCH[8:])
    return tuple(centre + lungs if heart_first else lungs + centre)


REFLACX_READERS: tuple[ReaderProfile, ...] = (
    ReaderProfile(
        "R1",
        0.26,
        2.6,
        (3.0, 8.0),
        _order(False, True, False),
        1.0,
        1.0,
        1.0,
        78.0,
        0,
        ("Pneumothorax", "Pleural abnormality"),
    ),
    ReaderProfile(
        "R2",
        0.32,
        2.2,
        (6.0, 14.0),
        _order(False, True, True),
        0.7,
        1.4,
        1.5,
        74.0,
        1,
        ("Pneumothorax", "Pleural abnormality", "Consolidation", "Pulmonary edema"),
    ),
    ReaderProfile(
        "R3", 0.22, 3.0, (2.0, 5.0), _order(True, True, False), 1.4, 0.6, 0.4, 82.0, 0, ("Pneumothorax",)
    ),
    ReaderProfile(
        "R4",
        0.29,
        2.4,
        (4.0, 10.0),
        _order(False, False, True),
        1.0,
        1.2,
        1.0,
        76.0,
        1,
        ("Pleural abnormality", "Enlarged cardiac silhouette", "Pneumothorax"),
    ),
    ReaderProfile(
        "R5",
        0.35,
        2.0,
        (5.0, 12.0),
        _order(True, False, False),
        0.8,
        0.9,
        2.0,
        80.0,
        0,
        ("Consolidation", "Pneumothorax", "Pleural abnormality", "Lung nodule or mass"),
    ),
)
EYEGAZE_READER = ReaderProfile(
    "EG",
    0.3,
    2.3,
    (4.0, 9.0),
    _order(False, True, False),
    0.8,
    1.0,
    0.0,
    38.0,
    1,
    ("Pneumothorax", "Pleural abnormality", "Consolidation"),
)

FALSE_MENTION_REGIONS = {
    "Atelectasis": ("right lower lung zone", "left lower lung zone"),
    "Consolidation": ("right lower lung zone", "left lower lung zone", "right mid lung zone"),
    "Lung nodule or mass": ("right upper lung zone", "left upper lung zone"),
    "Pleural abnormality": ("right costophrenic angle", "left costophrenic angle"),
}


def reading_mentions(
    rng: np.random.Generator, profile: ReaderProfile, findings: list[Finding], cfg: ReadersConfig
) -> list[Mention]:
    """What this reader states: detected findings (subtle ones may be missed or hedged), an
    occasional absent finding called unlikely, and the reader's habitual negatives."""
    certainty: dict[int, int] = {}
    for i, f in enumerate(findings):
        if f.subtle and rng.random() < min(1.0, cfg.miss_rate_subtle * profile.miss):
            continue
        if f.subtle and rng.random() < min(1.0, cfg.hedge_rate_subtle * profile.hedge):
            certainty[i] = int(rng.choice((3, 4)))
        else:
            certainty[i] = 5 if rng.random() < 0.92 else 4
    mentions = positive_mentions(findings, certainty)
    stated = {m.finding for m in mentions}
    present = {f.name for f in findings}
    if rng.random() < cfg.false_mention_rate:
        options = [n for n in FALSE_MENTION_REGIONS if n not in present]
        if options:
            name = options[int(rng.integers(len(options)))]
            regions = FALSE_MENTION_REGIONS[name]
            mentions.append(
                Mention(name, int(rng.choice((1, 2))), [regions[int(rng.integers(len(regions)))]])
            )
            stated.add(name)
    for name in profile.negatives:
        if name not in present and name not in stated:
            mentions.append(Mention(name, 0, list(NEGATIVE_REGIONS[name])))
    return mentions


def report_mentions(rng: np.random.Generator, findings: list[Finding], cfg: ReadersConfig) -> list[Mention]:
    """Mentions of the clinical report: every drawn finding (subtle ones often hedged), plus
    explicit negatives for a few absent findings."""
    certainty = {
        i: (int(rng.choice((3, 4))) if f.subtle and rng.random() < cfg.hedge_rate_subtle else 5)
        for i, f in enumerate(findings)
    }
    mentions = positive_mentions(findings, certainty)
    present = {f.name for f in findings}
    for name in NEGATIVE_REGIONS:
        if name not in present and rng.random() < (
            0.8 if name in ("Pneumothorax", "Pleural abnormality") else 0.3
        ):
            mentions.append(Mention(name, 0, list(NEGATIVE_REGIONS[name])))
    return mentions


# --- gaze ---------------------------------------------------------------------------------


def fit_rect(crop: Box, screen: tuple[int, int]) -> tuple[int, int, int, int]:
    """Integer screen rectangle (xmin, ymin, xmax, ymax) showing ``crop`` as large as fits, centred."""
    cw, ch = crop[2] - crop[0], crop[3] - crop[1]
    scale = min(screen[0] / cw, screen[1] / ch)
    w, h = round(cw * scale), round(ch * scale)
    x0, y0 = (screen[0] - w) // 2, (screen[1] - h) // 2
    return x0, y0, x0 + w, y0 + h


@dataclass
class GazeRecord:
    """One simulated reading on one screen.

    Per fixation (F,): ``start``, ``end`` (s, audio clock), ``x``, ``y`` (image px, float, may be
    off the image), ``pupil``; ``crop`` (F, 4) image-px crop shown; ``rect`` (F, 4) its screen
    rectangle; ``ppd`` (F, 2) image px per degree. ``words``: (token, start, end);
    ``sentence_spans``: (start, end) per dictated sentence; ``blinks``: (start, end);
    ``window``: (width, level) of the display; ``image_size``: (H, W).
    """

    start: np.ndarray
    end: np.ndarray
    x: np.ndarray
    y: np.ndarray
    pupil: np.ndarray
    crop: np.ndarray
    rect: np.ndarray
    ppd: np.ndarray
    words: list[tuple[str, float, float]]
    sentence_spans: list[tuple[float, float]]
    blinks: list[tuple[float, float]]
    duration: float
    window: tuple[int, int]
    image_size: tuple[int, int]


def _plan_words(
    rng: np.random.Generator, sentences: list[Sentence], t0: float, wps: float
) -> tuple[list[tuple[str, float, float]], list[tuple[float, float]]]:
    words: list[tuple[str, float, float]] = []
    spans: list[tuple[float, float]] = []
    t = t0
    for k, s in enumerate(sentences):
        if k:
            t += rng.uniform(0.35, 1.4)  # pause between sentences
        begin = t
        for tok in tokens(s.text):
            if not tok[0].isalnum():
                words.append((tok, t, t))  # punctuation: its own zero-length row
                continue
            dur = (0.12 + 0.045 * len(tok)) * 2.5 / wps * rng.uniform(0.8, 1.25)
            words.append((tok, t, t + dur))
            t += dur + rng.uniform(0.02, 0.12)
        spans.append((begin, t))
    return words, spans


def _in_box(rng: np.random.Generator, box: Box, spread: float = 0.25) -> tuple[float, float]:
    """A point near the centre of ``box`` (Gaussian, clipped to the box)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    w, h = box[2] - box[0], box[3] - box[1]
    return (
        float(np.clip(rng.normal(cx, spread * w), box[0], box[2])),
        float(np.clip(rng.normal(cy, spread * h), box[1], box[3])),
    )


def simulate_reading(
    rng: np.random.Generator,
    profile: ReaderProfile,
    image_size: tuple[int, int],
    regions: dict[str, Box],
    findings: list[Finding],
    sentences: list[Sentence],
    cfg: ReadersConfig,
    screen: tuple[int, int] = (3840, 2160),
    allow_zoom: bool = True,
) -> GazeRecord:
    """Simulate the gaze of one reading of an (H, W) image; see the module docstring."""
    H, W = image_size
    full: Box = (0.0, 0.0, float(W), float(H))
    silent = rng.uniform(*profile.silent)
    words, spans = _plan_words(rng, sentences, silent, profile.words_per_s)
    duration = (spans[-1][1] if spans else silent) + rng.uniform(0.5, 1.5)

    def boxes_for(s: Sentence) -> list[Box]:
        m = s.mention
        if m is None:
            return []
        if m.targets:
            return [findings[i].box for i in m.targets if findings[i].box is not None]
        return [regions[r] for r in m.regions if r in regions]

    # Zoom/pan: one crop interval around what a sentence talks about.
    crops: list[tuple[float, float, Box]] = [(0.0, duration, full)]
    targeted = [k for k, s in enumerate(sentences) if boxes_for(s)]
    if allow_zoom and targeted and rng.random() < min(1.0, cfg.zoom_fraction * profile.zoom):
        k = targeted[int(rng.integers(len(targeted)))]
        b = boxes_for(sentences[k])[0]
        z = rng.uniform(1.2, 1.7)
        cw, ch = W / z, H / z
        cx = float(np.clip((b[0] + b[2]) / 2, cw / 2, W - cw / 2))
        cy = float(np.clip((b[1] + b[3]) / 2, ch / 2, H - ch / 2))
        crop = (round(cx - cw / 2), round(cy - ch / 2), round(cx + cw / 2), round(cy + ch / 2))
        t0, t1 = max(silent, spans[k][0] - 1.0), min(duration, spans[k][1] + 0.5)
        crops = [(0.0, t0, full), (t0, t1, crop), (t1, duration, full)]

    def crop_at(t: float) -> Box:
        for t0, t1, c in crops:
            if t0 <= t < t1:
                return c
        return crops[-1][2]

    # Targets over time: silent search, then sentence-locked dwelling.
    search = [regions[r] for r in profile.order if r in regions]
    noticed = [f.box for f in findings if f.box is not None and not (f.subtle and rng.random() < 0.3)]
    silent_targets: list[Box] = []
    for b in search:
        silent_targets += [b] * int(rng.integers(1, 3))
        for fb in noticed:
            if _overlaps(fb, b):
                silent_targets += [fb] * int(rng.poisson(cfg.finding_dwell))
    lead = rng.uniform(0.3, 0.8)

    fix_start, fix_end, xs, ys = [], [], [], []
    blinks: list[tuple[float, float]] = []
    t, px, py = 0.0, W / 2, H / 2
    si = 0
    ppd_full = profile.screen_ppd / (min(screen[0] / W, screen[1] / H))
    while t < duration - 0.1:
        k = next((j for j, (b0, b1) in enumerate(spans) if b0 - lead <= t < b1), -1)
        crop = crop_at(t)
        boxes = boxes_for(sentences[k]) if k >= 0 else []
        if boxes:
            x, y = _in_box(rng, boxes[int(rng.integers(len(boxes)))], 0.2)
            dur_scale = 1.3
        elif t < silent and silent_targets:
            x, y = _in_box(rng, silent_targets[si % len(silent_targets)], 0.3)
            si += 1
            dur_scale = 1.0
        else:
            x, y = _in_box(rng, search[int(rng.integers(len(search)))], 0.35)
            dur_scale = 1.0
        if crop != full:  # while zoomed, the eyes stay on what is shown
            x, y = float(np.clip(x, crop[0], crop[2] - 1)), float(np.clip(y, crop[1], crop[3] - 1))
        amp_deg = np.hypot(x - px, y - py) / ppd_full
        t += 0.02 + 0.0025 * amp_deg  # saccade (main sequence)
        if rng.random() < 0.05:  # blink during the saccade
            b = rng.uniform(0.08, 0.25)
            blinks.append((t, t + b))
            t += b
        dur = float(np.clip(rng.lognormal(np.log(profile.fix_median * dur_scale), 0.4), 0.08, 1.2))
        if t + dur > duration:
            break
        fix_start.append(t)
        fix_end.append(t + dur)
        xs.append(x)
        ys.append(y)
        px, py = x, y
        t += dur

    start = np.asarray(fix_start)
    x = np.asarray(xs)
    y = np.asarray(ys)
    n = len(start)
    crop_arr = np.array([crop_at(s) for s in start], dtype=np.float64).reshape(n, 4)
    rect_arr = np.array([fit_rect(tuple(c), screen) for c in crop_arr], dtype=np.float64).reshape(n, 4)
    scale = (rect_arr[:, 2] - rect_arr[:, 0]) / (crop_arr[:, 2] - crop_arr[:, 0])
    # Glances at the screen margin: a screen point left or right of the shown image.
    glance = rng.random(n) < cfg.margin_glance_rate
    if glance.any():
        left = rng.random(n) < 0.5
        sx = np.where(left, rng.uniform(0, rect_arr[:, 0]), rng.uniform(rect_arr[:, 2], screen[0]))
        sy = rng.uniform(0, screen[1], n)
        x = np.where(glance, crop_arr[:, 0] + (sx - rect_arr[:, 0]) / scale, x)
        y = np.where(glance, crop_arr[:, 1] + (sy - rect_arr[:, 1]) / scale, y)
    ppd = np.column_stack([profile.screen_ppd / scale, profile.screen_ppd * 1.02 / scale])
    # Eye-tracker measurement noise, ~0.3 degree.
    x = x + rng.normal(0, 0.3, n) * ppd[:, 0]
    y = y + rng.normal(0, 0.3, n) * ppd[:, 1]
    pupil = np.clip(1.0 + np.cumsum(rng.normal(0, 0.01, n)) + rng.normal(0, 0.02, n), 0.5, 1.5)
    return GazeRecord(
        start,
        np.asarray(fix_end),
        x,
        y,
        pupil,
        crop_arr,
        rect_arr,
        ppd,
        words,
        spans,
        blinks,
        duration,
        (int(rng.integers(200, 256)), int(rng.integers(110, 140))),
        (H, W),
    )


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def raw_samples(rng: np.random.Generator, g: GazeRecord, hz: float) -> dict[str, np.ndarray]:
    """Raw gaze samples at ``hz`` over the reading: tremor around each fixation, linear
    saccades between fixations, NaN position/pupil during blinks.

    Returns arrays (S,) ``t``, ``x``, ``y``, ``pupil`` and ``fix`` (index of the current or
    previous fixation, -1 before the first).
    """
    t = np.arange(0.0, g.duration, 1.0 / hz)
    n = len(g.start)
    idx = np.searchsorted(g.start, t, side="right") - 1
    if n == 0:
        nan = np.full(len(t), np.nan)
        return {"t": t, "x": nan, "y": nan, "pupil": nan, "fix": idx}
    cur = np.clip(idx, 0, n - 1)
    nxt = np.clip(idx + 1, 0, n - 1)
    in_fix = (idx >= 0) & (t < g.end[cur])
    # Saccade: interpolate from the end of the previous fixation to the start of the next.
    gap = np.maximum(g.start[nxt] - g.end[cur], 1e-6)
    a = np.clip((t - g.end[cur]) / gap, 0.0, 1.0)
    a = np.where(idx < 0, 1.0, a)
    x = np.where(in_fix, g.x[cur], (1 - a) * g.x[cur] + a * g.x[nxt])
    y = np.where(in_fix, g.y[cur], (1 - a) * g.y[cur] + a * g.y[nxt])
    tremor = rng.normal(0, 0.08, (2, len(t))) * g.ppd[cur].T
    x, y = x + tremor[0], y + tremor[1]
    pupil = g.pupil[cur] + rng.normal(0, 0.01, len(t))
    blink = np.zeros(len(t), dtype=bool)
    for b0, b1 in g.blinks:
        blink |= (t >= b0) & (t < b1)
    x, y, pupil = (np.where(blink, np.nan, v) for v in (x, y, pupil))
    return {"t": t, "x": x, "y": y, "pupil": pupil, "fix": idx}
