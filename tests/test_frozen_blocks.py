"""``model.freeze_blocks``: frozen leading trunk stages and the cache of their outputs."""

from __future__ import annotations

import json
from collections import OrderedDict

import pandas as pd
import pytest
import torch

from gazecxr.config import load_config
from gazecxr.models import build_model, frozen
from gazecxr.models.config import ModelConfig
from gazecxr.models.frozen import PrefixCache, shared_prefix_cache
from gazecxr.schema import ConfigError
from tiny_runs import REPO, train_tiny, write_tiny_tree

SIZE = 64


def _model(backbone: str = "efficientnet_lite0", k: int = 5, seed: int = 0):  # noqa: ANN202
    torch.manual_seed(seed)
    cfg = ModelConfig(
        backbone=backbone, freeze_blocks=k, pretrained=False, text_encoder="none", gaze_encoder="none"
    )
    return build_model(cfg, 8, SIZE)


@pytest.mark.parametrize(
    ("backbone", "k"), [("efficientnet_lite0", 5), ("efficientnet_lite0", 10), ("densenet121", 2)]
)
def test_frozen_split_computes_the_same_network(backbone: str, k: int) -> None:
    """Stem + k blocks, then the rest, is the unsplit trunk: same weights, eval mode, same logits."""
    frozen, whole = _model(backbone, k), _model(backbone, 0)
    whole.load_state_dict(frozen.state_dict())
    x = torch.rand(3, 1, SIZE, SIZE)
    frozen.eval(), whole.eval()
    a, b = frozen(x), whole(x)
    torch.testing.assert_close(a.logits, b.logits, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a.attention, b.attention, rtol=1e-5, atol=1e-6)


def test_frozen_blocks_get_no_gradient_and_keep_their_statistics() -> None:
    model = _model(k=5).train()
    frozen = {id(p) for m in model.frozen_modules for p in m.parameters()}
    assert frozen and all(not m.training for m in model.frozen_modules)
    assert model.head.training and model.backbone._blocks[5].training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for _ in range(2):
        out = model(torch.rand(4, 1, SIZE, SIZE))
        opt.zero_grad()
        out.logits.sum().backward()
        opt.step()
    assert all(p.grad is None for p in model.parameters() if id(p) in frozen)
    after = model.state_dict()
    names = {n for n, p in model.named_parameters() if id(p) in frozen}
    stem_stats = [
        n for n in after if n.startswith(("backbone._bn0.", "backbone._blocks.4.")) and "running" in n
    ]
    assert stem_stats
    for n in [*names, *stem_stats]:  # weights and BatchNorm running statistics of the frozen part
        assert torch.equal(before[n], after[n]), n
    assert not torch.equal(
        before["backbone._blocks.5._bn2.running_mean"], after["backbone._blocks.5._bn2.running_mean"]
    )
    assert not torch.equal(before["head.fc.weight"], after["head.fc.weight"])


def test_cached_forward_equals_the_computed_one() -> None:
    model = _model(k=5).eval()
    x = torch.rand(6, 1, SIZE, SIZE)
    plain = model(x).logits
    model.prefix_cache = PrefixCache(1 << 30)
    first = model(x[:4]).logits  # 4 computed
    mixed = model(x).logits  # 4 from the cache, 2 computed
    again = model(x).logits  # all 6 from the cache
    torch.testing.assert_close(first, plain[:4], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(mixed, plain, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(again, plain, rtol=1e-5, atol=1e-6)
    assert model.prefix_cache.stats() == {
        "images": 6,
        "bytes": 6 * 40 * 8 * 8 * 4,  # Lite0 after block 4: 40 channels at stride 8
        "hits": 10,
        "misses": 6,
        "overflow": 0,
    }


def test_prefix_cache_calls_fn_on_new_images_only_and_respects_its_bound() -> None:
    calls: list[int] = []

    def fn(x: torch.Tensor) -> torch.Tensor:
        calls.append(len(x))
        return x.flatten(1) * 2

    images = torch.rand(5, 1, 4, 4)
    row_bytes = 16 * 4
    cache = PrefixCache(max_bytes=3 * row_bytes)
    torch.testing.assert_close(cache(images, fn), images.flatten(1) * 2)
    assert calls == [5] and len(cache) == 3 and cache.overflow == 2
    torch.testing.assert_close(cache(images, fn), images.flatten(1) * 2)  # 3 cached, 2 recomputed
    assert calls == [5, 2] and cache.hits == 3
    torch.testing.assert_close(cache(images[:3], fn), images[:3].flatten(1) * 2)
    assert calls == [5, 2]  # nothing new: fn not called


def test_shared_cache_is_keyed_by_the_frozen_weights() -> None:
    a, b, c = _model(seed=0), _model(seed=0), _model(seed=1)
    assert a.frozen_digest() == b.frozen_digest() != c.frozen_digest()
    assert shared_prefix_cache(a.frozen_digest(), 1 << 20) is shared_prefix_cache(b.frozen_digest(), 1 << 20)
    assert shared_prefix_cache(c.frozen_digest(), 1 << 20) is not shared_prefix_cache(
        a.frozen_digest(), 1 << 20
    )


def test_bad_freeze_settings_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="CNN backbones"):
        load_config(REPO / "configs" / "synthetic.yaml", ["model.backbone=vit", "model.freeze_blocks=1"])
    with pytest.raises(ConfigError, match="at most 10 blocks"):
        _model(k=11)
    with pytest.raises(ConfigError, match="at most 2 blocks"):
        _model("densenet121", 3)


def test_a_frozen_run_caches_each_image_once(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(frozen, "_CACHES", OrderedDict())  # this process's caches, from empty
    tree = write_tiny_tree(tmp_path / "tree")
    run = train_tiny(tree, tmp_path / "run", "model.freeze_blocks=5")
    train = json.loads((run / "metrics.json").read_text())["train"]
    stats = train["frozen_cache"]
    splits = pd.read_csv(run / "splits.csv")
    train_images = splits.loc[splits["split"] != "test", "dicom_id"].nunique()
    validate = int((splits["split"] == "validate").sum())
    # every image through the frozen blocks once; every other row of every forward from the cache
    assert stats["overflow"] == 0 and stats["misses"] == stats["images"] <= train_images
    assert stats["hits"] + stats["misses"] == train["global_steps"] * 4 + 2 * validate
    augmented = train_tiny(tree, tmp_path / "aug", "model.freeze_blocks=5", "data.augment=true")
    assert "frozen_cache" not in json.loads((augmented / "metrics.json").read_text())["train"]
