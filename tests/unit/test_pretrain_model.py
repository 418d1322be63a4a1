"""BLIP's pretraining model: shared MED weights, momentum copies, queues, .pth round trip; the
retrieval model's momentum encoders with and without a queue."""

from __future__ import annotations

import pytest
import torch

from blipctl.checkpoints.formats.blip_pth import load as load_original
from blipctl.checkpoints.formats.blip_pth import read_pth
from blipctl.checkpoints.formats.blip_pth import save as save_original
from blipctl.errors import ConfigError
from blipctl.models.builders import blip_pretrain_tiny, blip_retrieval_tiny
from blipctl.tasks.check import check_model
from blipctl.tasks.context import Context
from blipctl.tasks.retrieval import Retrieval


def test_decoder_shares_all_but_self_attention():
    m = blip_pretrain_tiny()
    assert m.decoder.embed is m.encoder.embed
    for enc, dec in zip(m.encoder.layers, m.decoder.layers, strict=True):
        assert dec.cross is enc.cross and dec.mlp is enc.mlp
        assert dec.attn is not enc.attn
        assert not torch.equal(dec.attn.q.weight, enc.attn.q.weight)


def test_momentum_copies_start_equal_and_follow_ema():
    torch.manual_seed(0)
    m = blip_pretrain_tiny()
    for online, target in m.momentum_pairs():
        for p, q in zip(online.parameters(), target.parameters(), strict=True):
            assert torch.equal(p, q) and not q.requires_grad
    before = m.visual_m.cls_token.clone()
    with torch.no_grad():
        m.visual.cls_token.add_(1.0)
    m.momentum_update()
    want = 0.995 * before + 0.005 * m.visual.cls_token
    assert torch.allclose(m.visual_m.cls_token, want)
    assert m.image_queue.shape == (64, 256)
    assert torch.allclose(m.image_queue.norm(dim=0), torch.ones(256))


def test_original_pth_round_trip_keeps_momentum_and_queues(tmp_path):
    torch.manual_seed(0)
    m = blip_pretrain_tiny()
    with torch.no_grad():
        m.visual_m.cls_token.add_(0.5)  # momentum copy differs from the online encoder
        m.ptr_queue.fill_(17)
        m.temp.fill_(0.05)
    save_original(m, tmp_path / "p.pth")
    state = read_pth(tmp_path / "p.pth")
    for key in ("visual_encoder_m.cls_token", "text_encoder_m.encoder.layer.0.attention.self.query.weight",
                "vision_proj_m.weight", "image_queue", "text_queue", "queue_ptr", "temp",
                "text_decoder.bert.encoder.layer.0.attention.self.query.weight"):
        assert key in state, key
    loaded = load_original(tmp_path / "p.pth")
    assert type(loaded) is type(m)
    a, b = m.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert loaded.decoder.layers[0].mlp is loaded.encoder.layers[0].mlp
    save_original(loaded, tmp_path / "q.pth")
    again = read_pth(tmp_path / "q.pth")
    assert state.keys() == again.keys() and all(torch.equal(state[k], again[k]) for k in state)


def test_retrieval_with_queue_size_0_keeps_momentum_encoders_and_trains_in_batch():
    torch.manual_seed(0)
    batch = {"image": torch.randn(4, 3, 64, 64), "image_id": [0, 1, 2, 0],
             "caption": ["a red circle", "a blue square", "two green stars", "a red ring"]}
    ctx = Context(torch.device("cpu"), 0, 0, 10)
    with pytest.raises(ConfigError, match="queue_size"):
        check_model(Retrieval(), blip_retrieval_tiny())  # inference-only: no momentum encoders
    m = blip_retrieval_tiny(queue_size=0)
    assert m.image_queue.shape == (64, 0) and m.idx_queue.shape == (1, 0)
    before = m.text_m.embed.tok.weight.clone()
    out = Retrieval().losses(m, batch, ctx)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and out["itc"] > 0 and out["itm"] > 0
    assert m.text.embed.tok.weight.grad.abs().sum() > 0
    torch.testing.assert_close(m.text_m.embed.tok.weight, before)  # EMA of an unchanged model
    assert int(m.ptr_queue) == 0


def test_blip_pretrain_checkpoint_names_its_queue_pointer_queue_ptr_and_round_trips(tmp_path):
    """BLIP's blip_pretrain.py registers `queue_ptr` (its retrieval model: `ptr_queue`), and the
    released model_base.pth / model_large.pth carry that name: both spellings load, and
    blipctl writes the one BLIP's code for that model uses."""
    torch.manual_seed(0)
    m = blip_pretrain_tiny()
    with torch.no_grad():
        m.ptr_queue.fill_(17)
    save_original(m, tmp_path / "p.pth")
    blip = read_pth(tmp_path / "p.pth")
    assert "queue_ptr" in blip and "ptr_queue" not in blip and int(blip["queue_ptr"]) == 17
    # as BLIP's own code saves it: plain torch.save of {"model": state_dict}, BERT's position ids too
    bert = ("text_encoder.", "text_encoder_m.", "text_decoder.bert.")
    torch.save({"model": {**blip, **{f"{p}embeddings.position_ids": torch.arange(64)[None] for p in bert}}},
               tmp_path / "model_base.pth")
    loaded = load_original(tmp_path / "model_base.pth")
    a, b = m.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    save_original(loaded, tmp_path / "again.pth")
    again = read_pth(tmp_path / "again.pth")
    assert again.keys() == blip.keys() and all(torch.equal(again[k], blip[k]) for k in blip)
    # blipctl before this release wrote `ptr_queue` for a pretrain model: still read
    older = {("ptr_queue" if k == "queue_ptr" else k): v for k, v in blip.items()}
    torch.save({"model": older}, tmp_path / "older.pth")
    assert int(load_original(tmp_path / "older.pth").ptr_queue) == 17


def test_retrieval_checkpoint_writes_ptr_queue():
    from blipctl.checkpoints.formats.blip_pth import original_state

    assert "ptr_queue" in original_state(blip_retrieval_tiny(queue_size=8))
