"""Loss terms against hand-computed values, edge cases, gradients, and the composed objective."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gazecxr.data.shuffle import derangement, shuffle_gaze
from gazecxr.losses import (
    GazeLoss,
    LearnableTemperature,
    Objective,
    curriculum_weight,
    ellipse_masks,
    ellipse_prior,
    gaze_cc,
    gaze_com,
    gaze_kl,
    gaze_mse,
    info_nce,
    label_weighted_attention,
    masked_bce_loss,
    resample_to_grid,
    trust_weights,
    usable_gaze,
)
from gazecxr.losses.config import CurriculumConfig, GazeLossConfig, LossConfig, TrustConfig
from gazecxr.models.base import embed_pairs
from gazecxr.models.output import ModelOutput


def maps(*rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def test_gaze_mse_hand_computed() -> None:
    a = maps([[2.0, 0.0], [0.0, 0.0]])
    g = maps([[0.0, 3.0], [0.0, 0.0]])
    assert gaze_mse(a, g).item() == pytest.approx(0.5)  # (1 + 1) / 4 after peak normalisation
    assert gaze_mse(a, 5 * a).item() == pytest.approx(0.0)


def test_gaze_kl_hand_computed() -> None:
    a = torch.ones(1, 2, 2, dtype=torch.float64)
    g = maps([[1.0, 0.0], [0.0, 0.0]])
    eps = 1e-8
    assert gaze_kl(a, g).item() == pytest.approx(math.log((1 + eps) / (0.25 + eps)))
    assert gaze_kl(g, 2 * g).item() == pytest.approx(0.0, abs=1e-12)


def test_gaze_cc_matches_numpy_and_edge_cases() -> None:
    torch.manual_seed(0)
    a, g = torch.rand(3, 5, 4, dtype=torch.float64), torch.rand(3, 5, 4, dtype=torch.float64)
    ref = [1 - np.corrcoef(a[i].flatten(), g[i].flatten())[0, 1] for i in range(3)]
    assert gaze_cc(a, g).numpy() == pytest.approx(ref)
    assert gaze_cc(a, a).numpy() == pytest.approx([0.0] * 3)
    assert gaze_cc(a, -a).numpy() == pytest.approx([2.0] * 3)
    assert gaze_cc(torch.ones_like(a), g).numpy() == pytest.approx([1.0] * 3)  # constant map: CC = 0


def test_gaze_com_hand_computed() -> None:
    a = maps([[1.0, 0.0], [0.0, 0.0]])  # centre (0.25, 0.25)
    g = maps([[0.0, 0.0], [0.0, 4.0]])  # centre (0.75, 0.75)
    assert gaze_com(a, g).item() == pytest.approx(math.sqrt(0.5))
    # x / w and (x + 0.5) / w centres differ by a constant that cancels:
    a3, g3 = torch.rand(2, 3, 5, dtype=torch.float64), torch.rand(2, 3, 5, dtype=torch.float64)
    pa, pg = a3 / a3.sum((1, 2), keepdim=True), g3 / g3.sum((1, 2), keepdim=True)
    xs, ys = torch.arange(5) / 5, torch.arange(3) / 3
    com = lambda p: torch.stack([(p.sum(1) * xs).sum(1), (p.sum(2) * ys).sum(1)], 1)  # noqa: E731
    assert gaze_com(a3, g3).numpy() == pytest.approx((com(pa) - com(pg)).norm(dim=1).numpy())


@pytest.mark.parametrize("fn", [gaze_mse, gaze_kl, gaze_cc, gaze_com])
def test_gaze_terms_finite_on_edge_cases(fn) -> None:
    att = torch.full((3, 4, 4), 1 / 16, requires_grad=True)  # uniform attention
    gaze = torch.zeros(3, 4, 4)
    gaze[1] = 1 / 16  # constant gaze
    gaze[2, 1, 2] = 1.0  # point gaze; sample 0 has no gaze at all
    value = fn(att, gaze)
    assert value.shape == (3,)
    assert torch.isfinite(value).all()
    value.sum().backward()
    assert torch.isfinite(att.grad).all()


def test_gaze_terms_decrease_towards_gaze() -> None:
    gaze = torch.zeros(1, 6, 6)
    gaze[0, 1, 4] = 1.0
    logits = torch.zeros(1, 36, requires_grad=True)
    opt = torch.optim.SGD([logits], lr=0.5)
    loss_fn = GazeLoss(GazeLossConfig())
    first = None
    for _ in range(50):
        total, _ = loss_fn(torch.softmax(logits, 1).view(1, 6, 6), gaze)
        first = first if first is not None else total.item()
        opt.zero_grad()
        total.sum().backward()
        opt.step()
    assert total.item() < 0.5 * first
    assert int(logits.argmax()) == 1 * 6 + 4


def test_gaze_loss_weights_and_switches() -> None:
    torch.manual_seed(1)
    a, g = torch.rand(2, 4, 4), torch.rand(2, 4, 4)
    total, parts = GazeLoss(GazeLossConfig(mse=2.0, kl=0.0, cc=0.5, com=0.0))(a, g)
    assert set(parts) == {"mse", "cc"}
    assert torch.allclose(total, 2.0 * gaze_mse(a, g) + 0.5 * gaze_cc(a, g))
    with pytest.raises(ValueError, match="every term weight"):
        GazeLoss(GazeLossConfig(mse=0, kl=0, cc=0, com=0))


def test_resample_to_grid_area_pooling() -> None:
    h = torch.zeros(2, 4, 4)
    h[0, 0, 0], h[0, 3, 3] = 0.75, 0.25
    out = resample_to_grid(h, (2, 2))
    assert out[0].flatten().tolist() == pytest.approx([0.75, 0.0, 0.0, 0.25])
    assert out[1].abs().sum() == 0  # no gaze stays no gaze
    same = resample_to_grid(torch.rand(1, 3, 3), (3, 3))
    assert same.sum().item() == pytest.approx(1.0)


def test_curriculum_weight_schedules() -> None:
    cfg = CurriculumConfig(warmup_epochs=1.0, ramp_epochs=2.0, weight=4.0)
    assert [curriculum_weight(cfg, t) for t in (0.0, 0.99, 1.0, 2.0, 3.0, 10.0)] == pytest.approx(
        [0, 0, 0, 2.0, 4.0, 4.0]
    )
    cos = cfg.model_copy(update={"schedule": "cosine"})
    assert curriculum_weight(cos, 1.5) == pytest.approx(4.0 * 0.5 * (1 - math.cos(math.pi * 0.25)))
    assert curriculum_weight(cfg.model_copy(update={"enabled": False}), 0.0) == 4.0
    assert curriculum_weight(cfg.model_copy(update={"ramp_epochs": 0.0}), 1.0) == 4.0


def test_trust_weights() -> None:
    valid = torch.tensor([True, True, False, True])
    lengths = torch.tensor([10, 2, 10, 5])
    usable = usable_gaze(valid, lengths, min_fixations=5)
    assert usable.tolist() == [True, False, False, True]
    trust = torch.tensor([0.5, 1.0, 1.0, 1.7])
    assert trust_weights(TrustConfig(), usable, trust).tolist() == [0.5, 0.0, 0.0, 1.0]
    assert trust_weights(TrustConfig(enabled=False), usable, None).tolist() == [1.0, 0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="trust"):
        trust_weights(TrustConfig(), usable, None)


def test_info_nce_hand_computed_and_symmetric() -> None:
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    t = 0.5
    s = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / t
    row = -(torch.log_softmax(s, 1).diagonal()).mean()
    col = -(torch.log_softmax(s, 0).diagonal()).mean()
    assert info_nce(a, b, t).item() == pytest.approx((0.5 * (row + col)).item())
    assert info_nce(a, b, t).item() == pytest.approx(info_nce(b, a, t).item())
    assert info_nce(a[:1], b[:1], t).item() == 0.0


def test_learnable_temperature_gets_gradient() -> None:
    temp = LearnableTemperature(0.07, learnable=True)
    a, b = torch.randn(4, 8), torch.randn(4, 8)
    info_nce(a, b, temp()).backward()
    assert temp.log_t.grad is not None and temp.log_t.grad != 0
    fixed = LearnableTemperature(0.07, learnable=False)
    assert not list(fixed.parameters()) and "log_t" in fixed.state_dict()


def test_masked_bce_loss() -> None:
    logits = torch.tensor([[2.0, -1.0], [0.5, 3.0]])
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    mask = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    keep = mask.bool()
    ref = F.binary_cross_entropy_with_logits(logits[keep], labels[keep])
    assert masked_bce_loss(logits, labels, mask).item() == pytest.approx(ref.item())
    assert masked_bce_loss(logits, labels, torch.zeros_like(mask)).item() == 0.0
    assert masked_bce_loss(logits, labels).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(logits, labels).item()
    )


def test_derangement_has_no_fixed_point() -> None:
    g = torch.Generator().manual_seed(0)
    for n in (2, 3, 7):
        for _ in range(20):
            p = derangement(n, g)
            assert sorted(p.tolist()) == list(range(n))
            assert (p != torch.arange(n)).all()


def _batch(b: int = 4, s: int = 8) -> dict:
    torch.manual_seed(0)
    heat = torch.rand(b, s, s)
    heat = heat / heat.sum((1, 2), keepdim=True)
    return {
        "image": torch.rand(b, 1, s, s),
        "labels": torch.randint(0, 2, (b, 3)).float(),
        "label_mask": torch.ones(b, 3),
        "gaze_heatmap": heat,
        "gaze_valid": torch.ones(b, dtype=torch.bool),
        "trust": torch.linspace(0.2, 1.0, b),
        "fixations": torch.rand(b, 6, 4),
        "fixations_len": torch.full((b,), 6),
        "text": [f"finding {i}" for i in range(b)],
        "ellipses": [[] for _ in range(b)],
    }


def test_shuffle_gaze_moves_gaze_between_valid_samples_only() -> None:
    batch = _batch(5)
    batch["gaze_valid"][2] = False
    out = shuffle_gaze(batch, torch.Generator().manual_seed(3))
    src = out["gaze_source"]
    assert src[2] == -1 and torch.equal(out["gaze_heatmap"][2], batch["gaze_heatmap"][2])
    for i in (0, 1, 3, 4):
        j = int(src[i])
        assert j not in (i, 2)
        assert torch.equal(out["gaze_heatmap"][i], batch["gaze_heatmap"][j])
        assert torch.equal(out["fixations"][i], batch["fixations"][j])
        assert out["trust"][i] == batch["trust"][j]
    single = _batch(3)
    single["gaze_valid"][1:] = False
    alone = shuffle_gaze(single)
    assert not alone["gaze_valid"].any() and alone["trust"][0] == 0


class _Encoders(nn.Module):
    """Stand-in for a GazeCXRNet's training encoders."""

    def __init__(self, dim: int = 5) -> None:
        super().__init__()
        self.text = nn.Linear(1, dim)
        self.fix = nn.Linear(4, dim)
        self.text_calls: list[list[str]] = []

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        self.text_calls.append(list(texts))
        return self.text(torch.tensor([[float(len(t))] for t in texts]))

    def encode_fixations(self, fixations: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.fix(fixations.mean(1))


def _loss(obj: Objective, out: ModelOutput, batch: dict, enc: _Encoders, epoch: float):  # noqa: ANN202
    """The objective on ``out`` with the pair embeddings ``enc`` computes (as ``forward_batch`` does)."""
    return obj(embed_pairs(enc, out, batch, obj.needs_texts, obj.needs_fixations), batch, epoch)


def _output(b: int = 4, grid: int = 4, c: int = 3) -> ModelOutput:
    torch.manual_seed(1)
    att = torch.softmax(torch.randn(b, grid * grid, requires_grad=True), 1).view(b, grid, grid)
    return ModelOutput(
        logits=torch.randn(b, c, requires_grad=True), attention=att, embedding=torch.randn(b, 5)
    )


def test_objective_total_is_the_documented_sum() -> None:
    cfg = LossConfig()
    obj = Objective(cfg, num_labels=3)
    batch, out, enc = _batch(), _output(), _Encoders()
    total, terms = _loss(obj, out, batch, enc, 2.0)
    lam = curriculum_weight(cfg.curriculum, 2.0)
    assert terms["lambda_gaze"] == lam == 0.5
    g = resample_to_grid(batch["gaze_heatmap"], (4, 4))
    per = sum(
        getattr(cfg.gaze, n) * f(out.attention, g)
        for n, f in [("mse", gaze_mse), ("kl", gaze_kl), ("cc", gaze_cc), ("com", gaze_com)]
    )
    gaze = (batch["trust"] * per).mean()
    cls = masked_bce_loss(out.logits, batch["labels"], batch["label_mask"])
    t = obj.temperature()
    nce_t = info_nce(out.embedding, enc.encode_text(batch["text"]), t)
    nce_g = info_nce(out.embedding, enc.encode_fixations(batch["fixations"], batch["fixations_len"]), t)
    expected = cls + lam * gaze + 0.1 * nce_t + 0.1 * nce_g
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)
    assert terms["gaze"] == pytest.approx(gaze.item(), rel=1e-5)
    assert terms["trust_mean"] == pytest.approx(batch["trust"].mean().item())
    assert set(terms) == set(obj.term_names())
    total.backward()
    assert obj.temperature.log_t.grad is not None


def test_objective_ignores_samples_without_gaze_and_empty_texts() -> None:
    obj = Objective(LossConfig(), num_labels=3)
    batch, enc = _batch(), _Encoders()
    batch["gaze_valid"][1] = False
    batch["trust"][1] = 0.0
    batch["text"][2] = "  "
    total, terms = _loss(obj, _output(), batch, enc, 5.0)
    batch2 = dict(batch, gaze_heatmap=batch["gaze_heatmap"].clone())
    batch2["gaze_heatmap"][1] = torch.rand(8, 8)  # the invalid sample's map must not matter
    total2, _ = _loss(obj, _output(), batch2, enc, 5.0)
    assert total.item() == pytest.approx(total2.item())
    assert terms["gaze_usable"] == 3
    assert enc.text_calls[0] == ["finding 0", "finding 1", "finding 3"]


def test_objective_without_any_gaze_is_classification_only() -> None:
    cfg = LossConfig.model_validate({"contrastive": {"image_text": 0, "image_gaze": 0}})
    obj = Objective(cfg, num_labels=3)
    batch = _batch()
    batch["gaze_valid"][:] = False
    out = _output()
    total, terms = _loss(obj, out, batch, _Encoders(), 5.0)
    assert math.isnan(terms["gaze"]) and terms["gaze_usable"] == 0
    assert total.item() == pytest.approx(
        masked_bce_loss(out.logits, batch["labels"], batch["label_mask"]).item()
    )
    assert obj.temperature is None and "nce_text" not in terms


def test_objective_warmup_has_no_gaze_gradient() -> None:
    cfg = LossConfig.model_validate({"contrastive": {"image_text": 0, "image_gaze": 0}})
    out = _output()
    total, terms = _loss(Objective(cfg, 3), out, _batch(), _Encoders(), 0.5)
    assert terms["lambda_gaze"] == 0 and terms["gaze"] > 0  # still logged
    (grad,) = torch.autograd.grad(total, out.attention, allow_unused=True)
    assert grad is None or grad.abs().sum() == 0


def test_objective_shuffle_control_changes_gaze_term() -> None:
    base = LossConfig.model_validate({"contrastive": {"image_text": 0, "image_gaze": 0}})
    shuffled = LossConfig.model_validate(
        {"contrastive": {"image_text": 0, "image_gaze": 0}, "gaze": {"shuffle": True}}
    )
    batch, out = _batch(), _output()
    _, t0 = _loss(Objective(base, 3), out, batch, _Encoders(), 5.0)
    torch.manual_seed(0)
    prepared = shuffle_gaze(batch)  # what the trainer applies once per batch with loss.gaze.shuffle
    assert (prepared["gaze_source"] != torch.arange(4)).all()
    _, t1 = _loss(Objective(shuffled, 3), out, prepared, _Encoders(), 5.0)
    assert t0["gaze"] != pytest.approx(t1["gaze"])


def test_ellipse_prior() -> None:
    masks = ellipse_masks([[{"box": (0.0, 0.0, 0.5, 0.5), "labels": ["x"]}], []], (4, 4))
    assert masks[0].sum() == 4 and masks[1].sum() == 0
    att = torch.full((2, 4, 4), 1 / 16)
    loss = ellipse_prior(att, masks)
    assert loss[0].item() == pytest.approx(-math.log(0.25 + 1e-6)) and loss[1] == 0
    cfg = LossConfig.model_validate(
        {"ellipse_prior": 1.0, "gaze": {"enabled": False}, "contrastive": {"image_text": 0, "image_gaze": 0}}
    )
    batch = _batch()
    batch["ellipses"][0] = [{"box": (0.0, 0.0, 0.5, 0.5), "labels": ["x"]}]
    out = _output()
    total, terms = _loss(Objective(cfg, 3), out, batch, _Encoders(), 0)
    expected = masked_bce_loss(out.logits, batch["labels"]) - torch.log(out.attention[0, :2, :2].sum() + 1e-6)
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)


def test_label_weighted_attention() -> None:
    maps = torch.softmax(torch.randn(3, 4, 16), -1).view(3, 4, 4, 4)
    labels = torch.tensor([[1.0, 0, 1, 0], [0, 0, 0, 0], [1, 1, 0, 0]])
    mask = torch.tensor([[1.0, 1, 1, 1], [1, 1, 1, 1], [1, 0, 1, 1]])  # sample 2: label 1 unknown
    mixed = label_weighted_attention(maps, labels, mask)
    assert torch.allclose(mixed[0], (maps[0, 0] + maps[0, 2]) / 2)
    assert torch.allclose(mixed[1], maps[1].mean(0))  # nothing present: every label's map
    assert torch.allclose(mixed[2], maps[2, 0])  # an unknown label does not count as present
    assert torch.allclose(mixed.sum((1, 2)), torch.ones(3))
    with pytest.raises(ValueError, match="class_attention"):
        label_weighted_attention(maps[:, :3], labels)


def test_objective_supervises_the_maps_of_the_labels_present() -> None:
    """With per-label maps the gaze term sees only the present labels' maps."""
    cfg = LossConfig.model_validate({"contrastive": {"image_text": 0, "image_gaze": 0}})
    batch, out = _batch(), _output()
    batch["labels"] = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])
    maps = torch.softmax(torch.randn(4, 3, 16), -1).view(4, 3, 4, 4).requires_grad_()
    out.class_attention = maps
    total, terms = _loss(Objective(cfg, 3), out, batch, _Encoders(), 5.0)
    (grad,) = torch.autograd.grad(total, maps)
    present = batch["labels"].bool()
    assert grad[present].abs().sum() > 0 and grad[~present].abs().sum() == 0
    g = resample_to_grid(batch["gaze_heatmap"], (4, 4))
    chosen = maps[torch.arange(4), batch["labels"].argmax(1)]
    per = sum(f(chosen, g) for f in (gaze_mse, gaze_kl, gaze_cc, gaze_com))
    assert terms["gaze"] == pytest.approx((batch["trust"] * per).mean().item(), rel=1e-5)


def test_dictation_target_pairs_each_present_dictated_label_with_its_own_map() -> None:
    cfg = LossConfig.model_validate(
        {"contrastive": {"image_text": 0, "image_gaze": 0}, "gaze": {"target": "dictation"}}
    )
    obj = Objective(cfg, 3)
    assert "gaze_dictated" in obj.term_names()
    batch, out = _batch(), _output()
    batch["labels"] = torch.tensor([[1.0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]])
    label_maps = torch.rand(4, 3, 8, 8)
    batch["gaze_label_heatmaps"] = label_maps / label_maps.sum((2, 3), keepdim=True)
    # sample 0: labels 0 and 1 dictated; 1: label 1 present but dictated only label 0; 2: label 2; 3: none
    batch["gaze_label_valid"] = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 1], [1, 1, 1]]).bool()
    maps = torch.softmax(torch.randn(4, 3, 16), -1).view(4, 3, 4, 4).requires_grad_()
    out.class_attention = maps
    total, terms = _loss(obj, out, batch, _Encoders(), 5.0)
    assert terms["gaze_dictated"] == 3  # (0, 0), (0, 1), (2, 2)
    g = resample_to_grid(batch["gaze_label_heatmaps"].flatten(0, 1), (4, 4)).view(4, 3, 4, 4)
    reading = resample_to_grid(batch["gaze_heatmap"], (4, 4))

    def loss(a: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return sum(f(a, t) for f in (gaze_mse, gaze_kl, gaze_cc, gaze_com))

    per = torch.stack(
        [
            (loss(maps[0, :1], g[0, :1]) + loss(maps[0, 1:2], g[0, 1:2])) / 2,
            loss(maps[1, 1:2], reading[1:2]),  # no present label dictated: the mixture vs the reading
            loss(maps[2, 2:3], g[2, 2:3]),
            loss(maps[3].mean(0, keepdim=True), reading[3:4]),  # normal: every map vs the reading
        ]
    ).flatten()
    assert terms["gaze"] == pytest.approx((batch["trust"] * per).mean().item(), rel=1e-5)
    (grad,) = torch.autograd.grad(total, maps)
    assert grad[0, 2].abs().sum() == 0 and grad[2, :2].abs().sum() == 0
    with pytest.raises(ValueError, match="dictation_maps"):
        del batch["gaze_label_heatmaps"]
        _loss(obj, out, batch, _Encoders(), 5.0)
