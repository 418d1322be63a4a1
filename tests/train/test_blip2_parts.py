"""The pretrained parts a BLIP-2 recipe trains around: a frozen tower referenced by
checkpoints, a tower unfrozen for fine-tuning at a new resolution, a Q-Former started from a
BLIP run's text encoder."""

from __future__ import annotations

import torch

from blipctl.checkpoints.frozen import built
from blipctl.checkpoints.load import load_model
from blipctl.checkpoints.parts import frozen_tower, qformer, trainable_tower
from blipctl.models import builders
from blipctl.tasks.blip2_stage1 import Stage1
from blipctl.tasks.context import Context


def _qformer_cfg():
    return builders.qformer_tiny(width=128, depth=2, vision_width=128, queries=4, vocab_size=30524)


def test_a_frozen_tower_is_referenced_and_never_trains(pretrained):
    model = builders.blip2_stage1(frozen_tower(str(pretrained[0]), "fp32"), _qformer_cfg(), embed_dim=16)
    refs = built(model)
    assert refs and all(n.startswith("visual.") for n in refs)
    assert not any(p.requires_grad for p in model.visual.parameters())
    assert not model.train().visual.training


def test_a_trainable_tower_trains_at_a_new_resolution_with_grad_checkpointing(pretrained):
    source = load_model(str(pretrained[0]))
    tower = trainable_tower(str(pretrained[0]), image_size=48)
    model = builders.blip2_stage1(tower, _qformer_cfg(), embed_dim=16).train()
    assert model.image_size == 48 and model.visual.training and not built(model)
    old, new = source.visual.pos_embed, model.visual.module.pos_embed
    assert old.shape[1] == 1 + 4 * 4 and new.shape[1] == 1 + 6 * 6  # 32 px -> 48 px, 8 px patches
    assert torch.equal(new[:, 0], old[:, 0])  # [CLS]'s position kept, the grid resized
    batch = {"image": torch.randn(4, 3, 48, 48), "caption": ["a red circle", "two blue stars", "a cross",
                                                              "a green square"]}
    Stage1().losses(model, batch, Context(torch.device("cpu")))["loss"].backward()
    grads = [p.grad for p in model.visual.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().max() > 0 for g in grads)
    assert model.visual.module.blocks[0].mlp.fc1.weight.requires_grad


def test_a_qformer_starts_from_a_blip_runs_text_encoder(pretrained):
    blip = load_model(str(pretrained[0]))
    q = qformer(_qformer_cfg(), init=str(pretrained[0]))
    text = blip.encoder if hasattr(blip, "encoder") else blip.text
    assert torch.equal(q.layers[1].attn.q.weight, text.layers[1].attn.q.weight)
    assert torch.equal(q.layers[0].mlp_query.fc1.weight, text.layers[0].mlp.fc1.weight)  # query FFN copied
    assert torch.equal(q.tok.weight[:text.embed.tok.weight.shape[0]], text.embed.tok.weight)


def test_a_qformer_copies_a_blip2_models_and_names_a_missing_text_side(tmp_path):
    import pytest
    from blip2_fixtures import N_QUERY, blip2_opt, instructblip

    from blipctl.errors import BlipctlError

    instructblip(tmp_path / "instruct", "t5")  # a Q-Former with its text side, as stage 1 leaves it
    cfg = builders.qformer_tiny(width=32, depth=2, vision_width=32, queries=N_QUERY, vocab_size=30523)
    cfg = type(cfg)(**{**vars(cfg), "heads": 4, "mlp_width": 37, "max_positions": 512})
    source = load_model(str(tmp_path / "instruct")).qformer
    q = qformer(cfg, init=str(tmp_path / "instruct"))
    for (name, mine), theirs in zip(q.state_dict().items(), source.state_dict().values(), strict=True):
        assert torch.equal(mine, theirs), name
    blip2_opt(tmp_path / "stage2")  # transformers' BLIP-2 keeps no text side
    with pytest.raises(BlipctlError, match=r"model.qformer.init.*lacks .* a stage-2 Q-Former keeps no text"):
        qformer(cfg, init=str(tmp_path / "stage2"))
