"""NLVR2's twin cross-attention against the single cross-attention it generalises."""

from __future__ import annotations

import torch

from blipctl.checkpoints.formats.blip_pth import load as load_original
from blipctl.checkpoints.formats.blip_pth import read_pth
from blipctl.checkpoints.formats.blip_pth import save as save_original
from blipctl.models.builders import blip_nlvr_tiny, med_tiny
from blipctl.models.med import TextTransformer

IDS = torch.tensor([[30523, 1037, 2417, 4418, 102], [30523, 2048, 3756, 5216, 102]])


def _twin_copies_single(nlvr, single: TextTransformer) -> None:
    """Both image heads of every layer get the single model's cross-attention weights."""
    state = single.state_dict()
    with torch.no_grad():
        for i, layer in enumerate(nlvr.text.layers):
            for n in (0, 1):
                head = getattr(layer.cross, f"h{n}")
                for p in ("q", "k", "v"):
                    getattr(head, p).weight.copy_(state[f"layers.{i}.cross.{p}.weight"])
                    getattr(head, p).bias.copy_(state[f"layers.{i}.cross.{p}.bias"])
                getattr(layer.cross, f"o{n}").weight.copy_(state[f"layers.{i}.cross.o.weight"])
                getattr(layer.cross, f"o{n}").bias.copy_(state[f"layers.{i}.cross.o.bias"])
            layer.cross.ln.load_state_dict(single.layers[i].cross.ln.state_dict())
            if layer.cross.merge is not None:  # [a, b] -> (a + b) / 2
                eye = torch.eye(layer.cross.o0.out_features)
                layer.cross.merge.weight.copy_(torch.cat([eye, eye], dim=1) / 2)
                layer.cross.merge.bias.zero_()
            for name in ("attn", "mlp"):
                getattr(layer, name).load_state_dict(getattr(single.layers[i], name).state_dict())
        nlvr.text.embed.load_state_dict(single.embed.state_dict())


def test_same_image_twice_equals_single_cross_attention():
    torch.manual_seed(0)
    nlvr = blip_nlvr_tiny().eval()  # merge from layer 1: both the mean and the merge path
    single = TextTransformer(med_tiny(128)).eval()
    _twin_copies_single(nlvr, single)
    image = nlvr.visual(torch.randn(2, 3, 64, 64))
    with torch.no_grad():
        want = single(IDS, image=image)
        got = nlvr.encode(IDS, None, image, image)
    assert (got - want).abs().max() < 1e-5


def test_left_and_right_are_told_apart():
    torch.manual_seed(0)
    m = blip_nlvr_tiny().eval()
    a, b = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert m(a, b, IDS).shape == (2, 2)
        assert (m(a, b, IDS) - m(b, a, IDS)).abs().max() > 1e-4


def test_original_pth_round_trip(tmp_path):
    torch.manual_seed(0)
    m = blip_nlvr_tiny().eval()
    save_original(m, tmp_path / "n.pth")
    state = read_pth(tmp_path / "n.pth")
    assert "text_encoder.encoder.layer.0.crossattention.self1.query.weight" in state
    assert "text_encoder.encoder.layer.1.crossattention.output.merge_layer.weight" in state
    assert "text_encoder.encoder.layer.0.crossattention.output.merge_layer.weight" not in state
    assert "cls_head.2.weight" in state
    loaded = load_original(tmp_path / "n.pth")
    assert loaded.text.layers[0].cross.merge is None and loaded.text.layers[1].cross.merge is not None
    a, b = m.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(m(x, x.flip(0), IDS), loaded(x, x.flip(0), IDS))
