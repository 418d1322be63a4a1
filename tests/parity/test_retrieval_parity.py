"""ITM logits and ITC similarities against transformers' BlipForImageTextRetrieval."""

from __future__ import annotations

import torch

from blipctl.checkpoints.load import load_model
from blipctl.models.blip import BlipRetrieval

IDS = torch.tensor([[101, 1037, 2417, 4418, 102, 0],
                    [101, 1037, 2630, 2675, 2006, 102],
                    [101, 2048, 3756, 102, 0, 0]])
MASK = (IDS != 0).long()


def test_itm_logits_match(hf_retrieval_dir, images):
    path, hf = hf_retrieval_dir
    ours = load_model(str(path))
    assert isinstance(ours, BlipRetrieval)
    with torch.no_grad():
        want = hf(pixel_values=images, input_ids=IDS, attention_mask=MASK, use_itm_head=True).itm_score
        got = ours.itm_logits(ours.encode_image(images), IDS, MASK)
    assert (got - want).abs().max() < 1e-4
    assert (want[0] - want[1]).abs().max() > 1e-3


def test_itc_similarity_matches(hf_retrieval_dir, images):
    path, hf = hf_retrieval_dir
    ours = load_model(str(path))
    assert isinstance(ours, BlipRetrieval)
    with torch.no_grad():
        want = hf(pixel_values=images, input_ids=IDS, attention_mask=MASK, use_itm_head=False).itm_score
        got = ours.image_features(ours.encode_image(images)) @ ours.text_features(IDS, MASK).T
    assert got.shape == want.shape == (3, 3)
    assert (got - want).abs().max() < 1e-4
    assert want.std() > 1e-3


def test_capfilt_filter_scores_a_transformers_checkpoint_as_transformers_does(hf_retrieval_dir, images):
    """CapFilt's filter encodes texts with the model's codec: [CLS] first for a transformers
    checkpoint, as transformers (and `blipctl eval`) read them, not BLIP's [ENC]."""
    from blipctl.capfilt.models import FilterConfig, match_probability
    from blipctl.checkpoints.load import load_model
    from blipctl.text.codecs import BlipText

    path, hf = hf_retrieval_dir
    ours = load_model(str(path))
    texts = ["a red circle", "a blue square on grass", "two yellow stars"]
    pairs = [(i, t) for i in range(3) for t in texts]
    got = torch.tensor(match_probability(ours, images, pairs, FilterConfig()))
    enc = BlipText().tokenizer([t for _, t in pairs], padding="longest", return_tensors="pt")
    with torch.no_grad():
        logits = hf(pixel_values=images.repeat_interleave(3, 0), input_ids=enc.input_ids,
                    attention_mask=enc.attention_mask, use_itm_head=True).itm_score
    want = logits.softmax(-1)[:, 1]
    assert (got - want).abs().max() < 1e-5
    ours.codec = BlipText(grounded_start="[ENC]")  # what CapFilt used to feed every filter
    wrong = torch.tensor(match_probability(ours, images, pairs, FilterConfig()))
    assert (wrong - want).abs().max() > 1e-4
