"""Synthetic findings: drawn inside their ground-truth box, visible at 128 px, clinically co-occurring;
the confounder follows its configured strength per split."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gazecxr.synth.config import SynthConfig
from gazecxr.synth.findings import Finding, mask_box, render_frontal, sample_findings
from gazecxr.synth.phantom import sample_anatomy
from gazecxr.synth.plan import plan_cohort
from gazecxr.synth.visibility import CASES as VISIBILITY_CASES

# Every case the visibility benchmark measures, plus a device drawn away from the mediastinum.
CASES = [*VISIBILITY_CASES, ("Support devices", None, "pacemaker")]


def _to_128(grey: np.ndarray) -> np.ndarray:
    h, w = grey.shape
    return np.asarray(
        Image.fromarray(grey.astype(np.float32), mode="F").resize((round(128 * w / h), 128), Image.BILINEAR)
    )


@pytest.mark.parametrize("subtle", [False, True])
@pytest.mark.parametrize(("name", "side", "kind"), CASES)
def test_finding_is_drawn_in_its_box_and_visible_at_128px(
    name: str, side: int | None, kind: str, subtle: bool
) -> None:
    cfg = SynthConfig()
    rng = np.random.default_rng(11)
    an = sample_anatomy(rng, 512, 424, "AP")
    f = Finding(
        name,
        "mild" if subtle else "moderate",
        subtle,
        side,
        [],
        kind=kind,
        params={"u1": 0.4, "u2": 0.6, "u3": 0.3, "zone": 1},
    )
    # Same texture seed: the two renderings differ only by the finding.
    with_f, without = render_frontal(an, [f], 5, cfg), render_frontal(an, [], 5, cfg)
    diff = np.abs(with_f.grey - without.grey)
    x0, y0, x1, y1 = (int(v) for v in mask_box(with_f.masks[0]))
    inside = diff[y0:y1, x0:x1].sum() / diff.sum()
    assert inside > 0.8, f"{name}: only {inside:.2f} of the change is inside the ground-truth box"
    small = np.abs(_to_128(with_f.grey) - _to_128(without.grey)) * 255
    s = 128 / 512
    peak = np.percentile(small[int(y0 * s) : int(y1 * s) + 1, int(x0 * s) : int(x1 * s) + 1], 90)
    # Noise is ~5 grey levels; a finding must stand out of it after downsampling.
    assert peak > (6.0 if subtle else 10.0), f"{name}: {peak:.1f} grey levels at 128 px"


def test_subtle_findings_have_less_contrast() -> None:
    cfg = SynthConfig()
    an = sample_anatomy(np.random.default_rng(2), 512, 424, "PA")
    base = render_frontal(an, [], 3, cfg).grey
    change = []
    for subtle in (False, True):
        f = Finding(
            "Consolidation", "mild", subtle, 0, [], params={"u1": 0.5, "u2": 0.5, "u3": 0.5, "zone": 1}
        )
        change.append(np.abs(render_frontal(an, [f], 3, cfg).grey - base).max())
    assert change[1] < 0.6 * change[0]


def test_findings_co_occur_like_heart_failure() -> None:
    cfg = SynthConfig()
    rng = np.random.default_rng(0)
    sets = [{f.name for f in sample_findings(rng, cfg, "PA")} for _ in range(3000)]
    has = {
        n: np.array([n in s for s in sets])
        for n in ("Pulmonary edema", "Enlarged cardiac silhouette", "Pleural abnormality")
    }
    edema, heart, effusion = (
        has["Pulmonary edema"],
        has["Enlarged cardiac silhouette"],
        has["Pleural abnormality"],
    )
    assert heart[edema].mean() > 2 * heart[~edema].mean()
    assert effusion[edema].mean() > 2 * effusion[~edema].mean()
    assert 0.05 < edema.mean() < 0.3 and 0.2 < np.mean([not s for s in sets]) < 0.5


@pytest.mark.parametrize("target", SynthConfig().confounder.findings)
def test_confounder_strength_per_split(target: str) -> None:
    cfg = SynthConfig.model_validate({"studies": 1500, "seed": 4})
    stats: dict[str, list[tuple[bool, bool]]] = {"train": [], "validate": [], "test": []}
    for p in plan_cohort(cfg):
        for st in p.studies:
            stats[p.split].append((any(f.name == target for f in st.findings), target in st.confounders))
    for split, rows in stats.items():
        a = np.array(rows)
        pos, neg = a[a[:, 0], 1].mean(), a[~a[:, 0], 1].mean()
        if split == "test":  # independent of the label
            assert abs(pos - cfg.confounder.p_test) < 0.15 and abs(neg - cfg.confounder.p_test) < 0.1
        else:
            assert abs(pos - cfg.confounder.p_positive) < 0.1 and abs(neg - cfg.confounder.p_negative) < 0.06
    off = SynthConfig.model_validate({"studies": 200, "seed": 4, "confounder": {"enabled": False}})
    assert not any(st.confounders for p in plan_cohort(off) for st in p.studies)


def test_unknown_finding_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="Pleural effusion"):
        SynthConfig.model_validate({"findings": {"base_rate": {"Pleural effusion": 0.1}}})
    with pytest.raises(ValueError, match="Edema"):
        SynthConfig.model_validate({"confounder": {"findings": ["Edema"]}})
    with pytest.raises(ValueError, match="twice"):
        SynthConfig.model_validate({"confounder": {"findings": ["Atelectasis", "Atelectasis"]}})
    with pytest.raises(ValueError, match="2 marker places"):
        SynthConfig.model_validate({"confounder": {"kind": "electrode"}})  # 4 findings by default


def test_size_knob_scales_lesions() -> None:
    an = sample_anatomy(np.random.default_rng(6), 512, 424, "PA")
    areas = []
    for size in (0.6, 1.0, 1.5):
        cfg = SynthConfig.model_validate({"findings": {"size": size}})
        f = Finding(
            "Lung nodule or mass",
            "moderate",
            False,
            0,
            [],
            kind="mass",
            params={"u1": 0.5, "u2": 0.5, "u3": 0.5, "zone": 1},
        )
        x0, y0, x1, y1 = mask_box(render_frontal(an, [f], 3, cfg).masks[0])
        areas.append((x1 - x0) * (y1 - y0))
    assert areas[0] < areas[1] < areas[2]
