"""A Q-Former started from BERT (BLIP-2's initialisation): its text path is BERT, the query FFN
is a copy of the text FFN, and what BERT has no weights for keeps its initialisation."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from conftest import reinit

from blipctl.checkpoints.qformer_init import from_bert
from blipctl.errors import BlipctlError
from blipctl.models.builders import qformer_tiny
from blipctl.models.qformer import QFormer


def _bert():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=4, num_attention_heads=2,
                                intermediate_size=128, max_position_embeddings=64, hidden_dropout_prob=0.0,
                                attention_probs_dropout_prob=0.0)).eval()
    reinit(bert, seed=6, std=0.2)
    with torch.no_grad():  # the Q-Former has no token types: BERT with type 0 at zero is its text path
        bert.embeddings.token_type_embeddings.weight.zero_()
    return bert


def test_text_path_is_bert_and_the_rest_keeps_its_init():
    bert = _bert()
    q = QFormer(qformer_tiny()).eval()
    before = {k: v.clone() for k, v in q.state_dict().items()}
    left = from_bert(q, bert.state_dict())
    ids = torch.tensor([[101, 1037, 2417, 4418, 102], [101, 2048, 102, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        want = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        got = q(ids, mask=mask, queries=False)
    real = mask.bool()
    assert (got[real] - want[real]).abs().max() < 1e-4 and (want[0, 1] - want[1, 1]).abs().max() > 1e-2
    after = q.state_dict()
    for i, layer in enumerate(q.layers):
        for w in ("fc1.weight", "fc2.bias", "ln.weight"):
            assert torch.equal(after[f"layers.{i}.mlp_query.{w}"], after[f"layers.{i}.mlp.{w}"])
        if layer.cross is not None:
            assert torch.equal(after[f"layers.{i}.cross.k.weight"], before[f"layers.{i}.cross.k.weight"])
    assert torch.equal(after["query_tokens"], before["query_tokens"])
    assert torch.equal(after["tok.weight"][30522], before["tok.weight"][30522])  # [DEC] is new
    assert "query_tokens" in left and any(".cross." in k for k in left)


def test_a_deeper_bert_is_refused():
    bert = _bert()
    q = QFormer(replace(qformer_tiny(), depth=2))
    with pytest.raises(BlipctlError, match="has no place in this Q-Former"):
        from_bert(q, bert.state_dict(), "bert-tiny")
