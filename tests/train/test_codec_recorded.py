"""A fine-tune records the text codec it trains with, and its run directory loads with it."""

from __future__ import annotations

import json

from conftest import TINY, run_cli

from blipctl.checkpoints.load import load_model


def _state(run):
    (ckpt,) = sorted((run / "checkpoints").iterdir())
    return json.loads((ckpt / "state.json").read_text())


def test_a_finetune_from_transformers_weights_records_its_start_token(hf_retrieval_dir, corpus, tmp_path):
    root, _ = corpus
    hf_dir, _ = hf_retrieval_dir
    assert load_model(str(hf_dir)).codec.grounded_start == "[CLS]"  # transformers' convention
    # transformers' BERT vocab, not the mini corpus's own
    common = ["finetune", "mini/retrieval", f"data.root={root}", f"init={hf_dir}", *TINY, "max_steps=1",
              "model.vocab_size=30524", "codec=null"]
    r = run_cli(*common, f"output_dir={tmp_path / 'enc'}")
    assert r.returncode == 0, r.stderr
    assert _state(tmp_path / "enc")["codec"]["grounded_start"] == "[ENC]"  # BLIP's, by default
    assert load_model(str(tmp_path / "enc")).codec.grounded_start == "[ENC]"
    r = run_cli(*common, f"output_dir={tmp_path / 'cls'}",
                'codec={_component_: blipctl.text.codecs.BlipText, grounded_start: "[CLS]"}')
    assert r.returncode == 0, r.stderr
    assert _state(tmp_path / "cls")["codec"]["grounded_start"] == "[CLS]"
    assert load_model(str(tmp_path / "cls")).codec.grounded_start == "[CLS]"
