"""Warm start matches tensors by blipctl's names: a pretrain checkpoint initialises each task."""

from __future__ import annotations

import pytest
import torch

from blipctl.checkpoints.formats.blip_pth import save as save_pth
from blipctl.checkpoints.warm_start import warm_start
from blipctl.errors import BlipctlError
from blipctl.models import builders


@pytest.fixture(scope="module")
def pretrain(tmp_path_factory):
    torch.manual_seed(0)
    m = builders.blip_pretrain_tiny(queue_size=32)
    with torch.no_grad():
        m.encoder_m.layers[0].attn.q.weight.add_(1.0)  # the momentum copy differs from the online one
    path = tmp_path_factory.mktemp("src") / "pretrain.pth"
    save_pth(m, path)
    return m, str(path)


def test_the_encoder_goes_to_retrieval_text_and_its_momentum_copy_too(pretrain):
    pre, path = pretrain
    torch.manual_seed(1)
    r = builders.blip_retrieval_tiny(queue_size=32)
    report = warm_start(r, path)
    assert torch.equal(r.text.layers[0].attn.q.weight, pre.encoder.layers[0].attn.q.weight)
    assert torch.equal(r.text_m.layers[0].attn.q.weight, pre.encoder_m.layers[0].attn.q.weight)
    assert torch.equal(r.image_queue, pre.image_queue) and torch.equal(r.itm_head.weight, pre.itm_head.weight)
    assert report.missing == ["idx_queue"] and not report.skipped
    assert str(report) == (f"{len(report.loaded)} tensors from {path}; 1 not in it, kept as "
                           "built (idx_queue)")


def test_nlvr_twin_cross_attention_starts_from_the_single_one(pretrain):
    pre, path = pretrain
    n = builders.blip_nlvr_tiny()
    warm_start(n, path)
    for layer, single in zip(n.text.layers, pre.encoder.layers, strict=True):
        for head in (layer.cross.h0, layer.cross.h1):
            assert torch.equal(head.k.weight, single.cross.k.weight)
        assert torch.equal(layer.cross.o1.bias, single.cross.o.bias)


def test_decoder_to_captioner_resized_grid_and_shape_report(pretrain):
    pre, path = pretrain
    cap = builders.blip_caption_tiny(32)  # the source has a 64-px grid
    warm_start(cap, path)
    assert torch.equal(cap.decoder.layers[1].attn.q.weight, pre.decoder.layers[1].attn.q.weight)
    assert cap.visual.pos_embed.shape == (1, 17, 128)
    assert torch.equal(cap.visual.pos_embed[:, 0], pre.visual.pos_embed[:, 0])
    other = builders.blip_pretrain_tiny(queue_size=8)
    report = warm_start(other, path)
    assert report.skipped == ["image_queue", "text_queue"]
    assert str(report).endswith("; 2 skipped for shape (image_queue, text_queue)")


def test_a_missing_source_names_the_recipe_key(tmp_path):
    with pytest.raises(BlipctlError, match=r"^recipe key `init`: .*nope\.pth: no such file$"):
        warm_start(builders.blip_caption_tiny(), str(tmp_path / "nope.pth"))
