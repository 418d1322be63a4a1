"""Key maps: renames, declared drops, tied copies and tensor transforms, both ways."""

from __future__ import annotations

import pytest
import torch

from blipctl.checkpoints.keymap import KeyMap, Tied, Transform
from blipctl.checkpoints.transforms import pos_embed, qkv_bias
from blipctl.errors import BlipctlError

EVA = KeyMap([("visual.", "visual_encoder.", [
    ("blocks.{i}.attn.qkv.weight", "blocks.{i}.attn.qkv.weight"),
    qkv_bias("blocks.{i}.attn.qkv.bias", "blocks.{i}.attn.q_bias", "blocks.{i}.attn.v_bias"),
])])


def _eva_theirs(layers: int = 2, width: int = 8) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    state = {}
    for i in range(layers):
        state[f"visual_encoder.blocks.{i}.attn.q_bias"] = torch.randn(width, generator=g)
        state[f"visual_encoder.blocks.{i}.attn.qkv.weight"] = torch.randn(3 * width, width, generator=g)
        state[f"visual_encoder.blocks.{i}.attn.v_bias"] = torch.randn(width, generator=g)
    return state


def test_eva_q_and_v_biases_fuse_into_one_qkv_bias_and_split_back_exactly():
    theirs = _eva_theirs()
    ours = EVA.to_ours(theirs)
    assert list(ours) == ["visual.blocks.0.attn.qkv.bias", "visual.blocks.0.attn.qkv.weight",
                          "visual.blocks.1.attn.qkv.bias", "visual.blocks.1.attn.qkv.weight"]
    q, k, v = ours["visual.blocks.1.attn.qkv.bias"].chunk(3)
    assert torch.equal(q, theirs["visual_encoder.blocks.1.attn.q_bias"])
    assert torch.equal(k, torch.zeros(8)) and torch.equal(v, theirs["visual_encoder.blocks.1.attn.v_bias"])
    back = EVA.to_theirs(ours)
    assert back.keys() == theirs.keys() and all(torch.equal(back[k], theirs[k]) for k in theirs)


def test_eva_split_refuses_a_key_bias_it_cannot_hold_and_a_missing_half():
    ours = EVA.to_ours(_eva_theirs(layers=1))
    ours["visual.blocks.0.attn.qkv.bias"][8] = 1.0
    with pytest.raises(BlipctlError, match="visual.blocks.0.attn.qkv.bias: the key part of the qkv bias"):
        EVA.to_theirs(ours, "model")
    theirs = _eva_theirs(layers=1)
    del theirs["visual_encoder.blocks.0.attn.v_bias"]
    with pytest.raises(BlipctlError, match="ckpt: visual_encoder.blocks.0.attn.q_bias needs "
                                           "visual_encoder.blocks.0.attn.v_bias too"):
        EVA.to_ours(theirs, "ckpt")


MAP = KeyMap([
    ("visual.", "vis.", [pos_embed("pos_embed", "pos"), ("cls_token", "cls")]),
    ("text.", "txt.", [("layers.{i}.{w}", "layer.{i}.{w}"), (None, "position_ids")]),
    ("", "", [("ptr", "queue_ptr"), ("ptr", "ptr_queue"), (None, "momentum_{*}"),
              Tied("text.layers.0.weight", "head.decoder.weight")]),
])


def _ours():
    return {"visual.pos_embed": torch.randn(1, 5, 4), "visual.cls_token": torch.randn(1, 1, 4),
            "text.layers.0.weight": torch.randn(3, 3), "text.layers.0.bias": torch.randn(3),
            "ptr": torch.zeros(1, dtype=torch.long)}


def test_renames_drops_tied_copies_and_other_spellings():
    ours = _ours()
    theirs = MAP.to_theirs(ours)
    assert list(theirs) == ["vis.pos", "vis.cls", "txt.layer.0.weight", "txt.layer.0.bias", "queue_ptr",
                            "head.decoder.weight"]  # the first spelling is written; tied copies last
    assert theirs["head.decoder.weight"] is ours["text.layers.0.weight"]
    extra = {"txt.position_ids": torch.arange(5), "momentum_encoder.x": torch.ones(1)}
    back = MAP.to_ours({**theirs, **extra})
    assert back.keys() == ours.keys() and all(back[k] is ours[k] for k in ours)
    other = {k if k != "queue_ptr" else "ptr_queue": v for k, v in theirs.items()}
    assert MAP.to_ours(other)["ptr"] is ours["ptr"]
    with pytest.raises(BlipctlError, match="f.pth: queue_ptr and ptr_queue both give ptr"):
        MAP.to_ours({**theirs, "ptr_queue": ours["ptr"]}, "f.pth")


def test_unknown_keys_are_errors_both_ways():
    with pytest.raises(BlipctlError, match="f.pth: unexpected keys vis.extra"):
        MAP.to_ours({**MAP.to_theirs(_ours()), "vis.extra": torch.ones(1)}, "f.pth")
    with pytest.raises(BlipctlError, match="model: unexpected keys visual.extra"):
        MAP.to_theirs({**_ours(), "visual.extra": torch.ones(1)}, "model")
    with pytest.raises(BlipctlError, match="unexpected keys momentum_x"):  # a drop names theirs only
        MAP.to_theirs({**_ours(), "momentum_x": torch.ones(1)})


def test_a_position_embedding_is_read_at_the_grid_of_the_model_it_loads_into():
    ours = _ours()
    ours["visual.pos_embed"] = torch.randn(1, 1 + 16, 4)  # a 4x4 grid
    theirs = MAP.to_theirs(ours)
    model = {**ours, "visual.pos_embed": torch.zeros(1, 1 + 4, 4)}  # a 2x2 grid
    got = MAP.to_ours(theirs, like=model)["visual.pos_embed"]
    assert got.shape == (1, 5, 4) and torch.equal(got[:, 0], ours["visual.pos_embed"][:, 0])
    assert MAP.to_ours(theirs)["visual.pos_embed"] is ours["visual.pos_embed"]  # no model: unchanged


def test_a_transform_may_join_several_of_their_tensors():
    cat = Transform(("w",), ("a", "b"), to_ours=lambda t, like=None: [torch.cat(t)],
                    to_theirs=lambda t: list(t[0].chunk(2)))
    m = KeyMap([("", "", [cat])])
    theirs = {"b": torch.ones(2), "a": torch.zeros(2)}
    assert torch.equal(m.to_ours(theirs)["w"], torch.tensor([0.0, 0, 1, 1]))  # in declared order
    assert {k: v.tolist() for k, v in m.to_theirs(m.to_ours(theirs)).items()} == \
        {"a": [0.0, 0.0], "b": [1.0, 1.0]}
