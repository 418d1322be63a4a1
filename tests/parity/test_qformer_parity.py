"""The Q-Former against transformers' Blip2QFormerModel on the same (re-initialised) weights:
queries alone reading an image, and [queries; text] bidirectionally."""

from __future__ import annotations

import torch
from conftest import reinit

from blipctl.checkpoints.keymap import KeyMap
from blipctl.checkpoints.names import QFORMER_HF
from blipctl.models.qformer import QFormer, QFormerConfig, attention_mask

CFG = QFormerConfig(vocab_size=30523, width=64, depth=4, heads=2, mlp_width=128, max_positions=32,
                    vision_width=48, queries=8, dropout=0.0)


def _pair():
    from transformers import Blip2QFormerConfig, Blip2QFormerModel

    torch.manual_seed(0)
    ours = QFormer(CFG).eval()
    reinit(ours, seed=1, std=0.4)
    theirs = Blip2QFormerModel(Blip2QFormerConfig(
        vocab_size=CFG.vocab_size, hidden_size=CFG.width, num_hidden_layers=CFG.depth,
        num_attention_heads=CFG.heads, intermediate_size=CFG.mlp_width, max_position_embeddings=32,
        encoder_hidden_size=CFG.vision_width, cross_attention_frequency=2, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, use_qformer_text_input=True)).eval()
    state = {k: v for k, v in ours.state_dict().items() if not k.startswith(("tok.", "pos.", "query_tokens"))}
    missing, unexpected = theirs.load_state_dict(KeyMap([("", "", QFORMER_HF)]).to_theirs(state),
                                                 strict=False)
    assert not unexpected and all("position_ids" in k for k in missing), (missing, unexpected)
    return ours, theirs


def test_queries_reading_an_image_match_transformers():
    ours, theirs = _pair()
    image = torch.randn(3, 10, CFG.vision_width)
    with torch.no_grad():
        got = ours(image=image)
        want = theirs(query_embeds=ours.query_tokens.expand(3, -1, -1), encoder_hidden_states=image,
                      encoder_attention_mask=torch.ones(3, 10, dtype=torch.long)).last_hidden_state
    assert got.shape == want.shape == (3, CFG.queries, CFG.width)
    assert (got - want).abs().max() < 1e-4
    assert (want[0] - want[1]).abs().max() > 1e-2  # not vacuous: other images, other outputs


def test_queries_and_text_bidirectionally_match_transformers():
    ours, theirs = _pair()
    image = torch.randn(2, 10, CFG.vision_width)
    ids = torch.tensor([[101, 1037, 2417, 4418, 102], [101, 2048, 102, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        got = ours(ids, image, mask)
        q = ours.query_tokens.expand(2, -1, -1)
        embeds = torch.cat([q, ours.tok(ids) + ours.pos(torch.arange(5))], dim=1)
        full = torch.cat([torch.ones(2, CFG.queries, dtype=torch.long), mask], dim=1)
        want = theirs(query_embeds=embeds, query_length=CFG.queries, attention_mask=full,
                      encoder_hidden_states=image).last_hidden_state
    keep = full.bool()
    assert (got[keep] - want[keep]).abs().max() < 1e-4
    t = CFG.queries + 1  # the first word: 'a' in one text, 'two' in the other
    assert (want[0, t] - want[1, t]).abs().max() > 1e-2


def test_query_prefix_causal_mask():
    m = attention_mask(2, 3, torch.tensor([[1, 1, 0]]), True, torch.float32, torch.device("cpu"))
    allowed = (m[0, 0] == 0).int().tolist()
    assert allowed == [[1, 1, 0, 0, 0],   # queries see queries only
                       [1, 1, 0, 0, 0],
                       [1, 1, 1, 0, 0],   # text sees every query and the text before it
                       [1, 1, 1, 1, 0],
                       [1, 1, 1, 1, 0]]   # never the padding
