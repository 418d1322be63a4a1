"""BLIP-2's CLIP ViT-L tower (LAVIS's clip_L) against transformers' CLIPVisionModel on the same
re-initialised weights, written under LAVIS's names: the tower keeps all but CLIP's last block,
with no ln_post."""

from __future__ import annotations

import torch
from blip2_fixtures import reinit

from blipctl.checkpoints.keymap import KeyMap
from blipctl.checkpoints.names import CLIP_LAVIS
from blipctl.models.clip_vit import ClipViT
from blipctl.models.vit import ViTConfig

LAYERS = 3


def _lavis_names(hf) -> dict[str, torch.Tensor]:
    """transformers' CLIP vision weights under LAVIS clip_vit.py's names, the last block left out."""
    e, out = hf.embeddings, {}
    out["class_embedding"] = e.class_embedding
    out["positional_embedding"] = e.position_embedding.weight
    out["conv1.weight"] = e.patch_embedding.weight
    for w in ("weight", "bias"):
        out[f"ln_pre.{w}"] = getattr(hf.pre_layrnorm, w)
    for i, layer in enumerate(hf.encoder.layers[:LAYERS - 1]):
        a, p = layer.self_attn, f"transformer.resblocks.{i}."
        out[p + "attn.in_proj_weight"] = torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight])
        out[p + "attn.in_proj_bias"] = torch.cat([a.q_proj.bias, a.k_proj.bias, a.v_proj.bias])
        for w in ("weight", "bias"):
            out[p + f"attn.out_proj.{w}"] = getattr(a.out_proj, w)
            out[p + f"ln_1.{w}"] = getattr(layer.layer_norm1, w)
            out[p + f"ln_2.{w}"] = getattr(layer.layer_norm2, w)
            out[p + f"mlp.c_fc.{w}"] = getattr(layer.mlp.fc1, w)
            out[p + f"mlp.c_proj.{w}"] = getattr(layer.mlp.fc2, w)
    return {k: v.detach().clone() for k, v in out.items()}


def test_clip_tower_matches_transformers_and_round_trips():
    from transformers import CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    hf = CLIPVisionModel(CLIPVisionConfig(hidden_size=128, intermediate_size=512, num_hidden_layers=LAYERS,
                                          num_attention_heads=2, image_size=28, patch_size=14,
                                          hidden_act="quick_gelu", layer_norm_eps=1e-5)).eval()
    reinit(hf, seed=3, std=0.1)
    theirs = _lavis_names(hf)
    cfg = ViTConfig(image_size=28, patch_size=14, width=128, depth=LAYERS - 1, heads=2, eps=1e-5)
    ours = ClipViT(cfg).eval()
    keys = KeyMap([("", "", CLIP_LAVIS)])
    ours.vit.load_state_dict(keys.to_ours(theirs, "clip", like=ours.vit.state_dict()), strict=True)
    pixels = torch.randn(2, 3, 28, 28)
    with torch.no_grad():
        want = hf(pixel_values=pixels, output_hidden_states=True).hidden_states[LAYERS - 1]
        got = ours(pixels)
    assert got.shape == want.shape == (2, 5, 128)
    assert (got - want).abs().max() < 1e-4
    assert (want[0] - want[1]).abs().max() > 1e-2
    back = keys.to_theirs(ours.vit.state_dict())
    assert sorted(back) == sorted(theirs) and all(torch.equal(back[k], theirs[k]) for k in theirs)


def test_lavis_checkpoint_with_a_clip_tower_round_trips(tmp_path):
    from blipctl.checkpoints.formats import lavis_blip2
    from blipctl.checkpoints.formats.blip_pth import read_pth
    from blipctl.models.blip2 import Blip2Retrieval
    from blipctl.models.qformer import QFormer, QFormerConfig
    from blipctl.text.codecs import BlipText

    torch.manual_seed(0)
    qf = QFormerConfig(width=128, depth=2, heads=2, mlp_width=96, max_positions=32, vision_width=128,
                       queries=4, dropout=0.0)
    tower = ClipViT(ViTConfig(image_size=28, patch_size=14, width=128, depth=2, heads=2, eps=1e-5))
    model = Blip2Retrieval(tower,
                           torch.nn.LayerNorm(128, eps=1e-5), QFormer(qf), torch.nn.Linear(128, 16),
                           torch.nn.Linear(128, 16), torch.nn.Linear(128, 2))
    model.codec = BlipText(grounded_start="[CLS]")
    reinit(model, seed=4, std=0.1)
    lavis_blip2.save(model, tmp_path / "clip.pth")
    theirs = read_pth(tmp_path / "clip.pth")
    assert "visual_encoder.transformer.resblocks.1.attn.in_proj_weight" in theirs
    again = lavis_blip2.load(str(tmp_path / "clip.pth"), frozen_dtype=torch.float32)
    assert isinstance(again.visual.module, ClipViT) and again.visual.module.cfg.depth == 2
    back = lavis_blip2.lavis_state(again)
    assert sorted(back) == sorted(theirs) and all(torch.equal(back[k], theirs[k]) for k in theirs)
    pixels = torch.randn(2, 3, 28, 28)
    with torch.no_grad():
        assert torch.equal(again.encode_image(pixels), model.eval().encode_image(pixels))
