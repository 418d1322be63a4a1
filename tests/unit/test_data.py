"""Annotation readers, BLIP's text cleaning and transforms, and the batch pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from blipctl.data.annotations import caption_records, nlvr_records, vqa_records
from blipctl.data.augment import apply_op, eval_transform, train_transform
from blipctl.data.images import preprocess
from blipctl.data.loader import (
    Bad,
    EpochBatches,
    Samples,
    WebShards,
    collate,
    count_shard_samples,
    image_sample,
    map_loader,
    rank_quota,
)
from blipctl.data.text import pre_caption, pre_question
from blipctl.errors import BlipctlError


def test_pre_caption_and_question_clean_as_blip():
    assert pre_caption("A Man, riding a horse!!  (on the beach).\n") == "a man, riding a horse on the beach"
    assert pre_caption(" ".join(["w"] * 40)).count("w") == 30
    assert pre_question("What color is the Star?") == "what color is the star?"
    assert pre_question("Is it (really) red.") == "is it really red"


def test_caption_records_from_every_corpus_file(corpus):
    root, _ = corpus
    train = caption_records(root / "caption_train.json", root, prompt="a picture of ")
    assert all(r["caption"].startswith("a picture of ") for r in train)
    first = json.loads((root / "caption_train.json").read_text())[0]["image"]  # relative to root
    assert train[0]["image"] == str(root / first)
    assert all(Path(r["image"]).is_file() for r in train)
    val = caption_records(root / "caption_val.json", root)  # 5 captions per record -> 5 records
    assert len(val) == 5 * len(json.loads((root / "caption_val.json").read_text()))
    ids = [r["image_id"] for r in val]
    assert ids == sorted(ids) and set(ids) == set(range(len(set(ids))))
    web = caption_records(root / "web.json", root)
    assert len({r["image_id"] for r in web}) == len(web)


def test_vqa_and_nlvr_records(corpus, tmp_path):
    root, _ = corpus
    vqa = vqa_records(root / "vqa_train.json", root)
    assert all(abs(sum(r["weights"]) - 1) < 1e-9 for r in vqa)
    vg = tmp_path / "vg.json"
    vg.write_text(json.dumps([{"image": "a.jpg", "question": "What?", "answer": "dog", "dataset": "vg"}]))
    assert vqa_records(vg, tmp_path)[0]["weights"] == [0.2]
    nlvr = nlvr_records(root / "nlvr_train.json", root)
    assert {r["label"] for r in nlvr} == {0, 1}


@pytest.mark.parametrize("content, message", [
    ("[{\"image\": \"a.jpg\"}]", "record 0: missing key `caption`"),
    ("[{\"image\": 3, \"caption\": \"x\"}]", "record 0: `image` should be str"),
    ("{\"image\": \"a.jpg\"}", "expected a JSON list"),
    ("[{\"image\": \"a.jpg\",", "not valid JSON (line 1"),
])
def test_bad_annotation_files_name_file_and_record(tmp_path, content, message):
    path = tmp_path / "ann.json"
    path.write_text(content)
    with pytest.raises(BlipctlError, match=f"ann.json: .*{message.split('(')[0]}"):
        caption_records(path, tmp_path)
    with pytest.raises(BlipctlError, match="no such annotation file"):
        caption_records(tmp_path / "missing.json", tmp_path)


def test_train_transform_is_seeded_and_eval_is_blip_test_transform():
    img = Image.fromarray((torch.rand(96, 80, 3) * 255).byte().numpy())
    a = train_transform(img, 64, torch.Generator().manual_seed(1))
    b = train_transform(img, 64, torch.Generator().manual_seed(1))
    c = train_transform(img, 64, torch.Generator().manual_seed(2))
    assert a.shape == (3, 64, 64) and torch.equal(a, b) and not torch.equal(a, c)
    torch.testing.assert_close(eval_transform(img, 64), preprocess(img, 64))


def test_train_transform_without_augment_is_the_whole_image_resized():
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    from blipctl.data.augment import MEAN, STD

    img = Image.fromarray((torch.rand(96, 80, 3) * 255).byte().numpy())
    want = TF.normalize(TF.to_tensor(TF.resize(img, [64, 64], InterpolationMode.BICUBIC)), MEAN, STD)
    for seed in (1, 2):  # nothing random is left but the flip, which hflip=False turns off
        got = train_transform(img, 64, torch.Generator().manual_seed(seed), augment=False, hflip=False)
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    flipped = [train_transform(img, 64, torch.Generator().manual_seed(s), augment=False) for s in range(8)]
    assert any(torch.equal(f, TF.hflip(want)) for f in flipped) and any(torch.equal(f, want) for f in flipped)


def test_randaugment_magnitudes_match_blip_at_level_5():
    img = Image.fromarray((torch.rand(32, 32, 3) * 255).byte().numpy())
    g = torch.Generator().manual_seed(0)
    # BLIP's enhance factor is 0.1 + 1.8 * 5/10 = 1.0: brightness and sharpness are no-ops at M=5
    assert apply_op(img, "Brightness", 5, g).tobytes() == img.tobytes()
    shifted = apply_op(Image.new("RGB", (32, 32), (255, 0, 0)), "TranslateX", 5, g)
    gray = [shifted.getpixel((x, 16)) == (128, 128, 128) for x in range(32)]
    assert sum(gray) == 5 and (all(gray[:5]) or all(gray[-5:]))  # 5 px of gray fill, random side


def test_bad_items_are_reported_not_raised(corpus, tmp_path):
    root, _ = corpus
    recs = caption_records(root / "web.json", root)[:4]
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    recs[1] = {**recs[1], "image": str(tmp_path / "broken.jpg")}
    recs[2] = {**recs[2], "image": str(tmp_path / "gone.jpg")}
    batch = collate([Samples(recs, image_sample(32, True))[i] for i in range(4)])
    assert batch["size"] == 2 and batch["image"].shape == (2, 3, 32, 32)
    assert [type(b) for b in batch["bad"]] == [Bad, Bad]
    assert "broken.jpg: not a readable image" in batch["bad"][0].reason
    assert "gone.jpg: no such file" in batch["bad"][1].reason and batch["bad"][1].where == "web.json:2"


def test_epoch_batches_split_world_batches_across_ranks_and_resume():
    one = list(EpochBatches(20, 4, seed=5))
    two = [list(EpochBatches(20, 2, seed=5, rank=r, world=2)) for r in range(2)]
    assert len(one) == 5 and all(len(b) == 2 for b in two[0])
    assert [two[0][i] + two[1][i] for i in range(5)] == one  # the world batch is the same
    resumed = EpochBatches(20, 4, seed=5)
    resumed.start(0, 3)
    assert list(resumed) == one[3:]
    nxt = EpochBatches(20, 4, seed=5)
    nxt.start(1)
    assert sorted(sum(list(nxt), [])) == sorted(sum(one, [])) and list(nxt) != one
    with pytest.raises(BlipctlError, match="cannot fill one batch"):
        EpochBatches(3, 4)


def test_map_loader_is_the_same_with_workers(corpus):
    root, _ = corpus
    samples = Samples(caption_records(root / "web.json", root)[:16], image_sample(32, True), seed=1)
    runs = [[b["image"] for b in map_loader(samples, EpochBatches(16, 4, seed=1), workers=w)] for w in (0, 2)]
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))


def test_webdataset_shards_split_across_ranks_and_workers(corpus):
    root, manifest = corpus
    urls = sorted(str(p) for p in (root / "shards").glob("web-*.tar"))
    total = count_shard_samples(urls)
    assert total == len(json.loads((root / "web.json").read_text()))
    per_rank = rank_quota(urls, 2, 4)
    assert per_rank == 24  # shards of 25, 25, 22: rank 1 holds only the second
    seen = []
    for rank in range(2):
        ds = WebShards(urls, image_sample(32, True), per_rank, rank=rank, world=2, batch_size=4)
        loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate)
        batches = list(loader)
        assert sum(b["size"] for b in batches) == per_rank and not any(b["bad"] for b in batches)
        seen += [w for b in batches for w in b["where"]]
        assert all(isinstance(c, str) and c for b in batches for c in b["caption"])
    assert len(seen) == len(set(seen))  # no sample twice across ranks and workers


def test_image_id_from_the_record_else_from_blips_coco_file_name():
    from blipctl.data.annotations import image_id

    assert image_id({"image": "x/1.jpg", "image_id": "synth_7"}, 0) == "synth_7"
    assert image_id({"image": "val2014/COCO_val2014_000000391895.jpg"}, 0) == 391895
    assert image_id({"image": "flickr/abc.jpg"}, 4) == 4


def test_streamed_shards_resume_mid_epoch_with_the_same_batches(corpus):
    from types import SimpleNamespace

    from blipctl.data.loader import train_data
    from blipctl.tasks.pretrain import Pretrain

    root, _ = corpus
    cfg = SimpleNamespace(root=str(root), train=["shards/web-{000000..000002}.tar"], image_size=32,
                          hflip=True, augment=True, batch_size=4, workers=2, shuffle=16)
    data = train_data(Pretrain(), cfg, seed=3)
    assert len(data) == 18  # 72 samples in whole batches of 4
    full = list(data.loader(epoch=1))
    assert [b["batch_index"][0] for b in full] == list(range(18))
    resumed = list(data.loader(epoch=1, first=5))  # worker 1 owns batch 5: the order is restored
    assert [b["batch_index"][0] for b in resumed] == list(range(5, 18))
    for a, b in zip(full[5:], resumed, strict=True):
        assert a["where"] == b["where"] and torch.equal(a["image"], b["image"])
    where = [w for b in full for w in b["where"]]
    # worker 0 streams shards 0 and 2 (47 samples), worker 1 shard 1 (25): each takes 36, so
    # worker 1 cycles its shard once more (webdataset's resampling), and no sample is left out
    assert len(where) == 72 and len(set(where)) == 61
    other = [w for b in data.loader(epoch=2) for w in b["where"]]
    assert other != where and len(other) == 72  # reshuffled each epoch
    assert all(c == c.lower() and "(" not in c for b in full for c in b["caption"])  # cleaned as BLIP


def test_shards_refused_for_a_task_that_does_not_read_pairs(corpus):
    from types import SimpleNamespace

    from blipctl.data.loader import train_data
    from blipctl.errors import ConfigError
    from blipctl.tasks.vqa import VQA

    root, _ = corpus
    cfg = SimpleNamespace(root=str(root), train=["shards/web-000000.tar"], image_size=32, hflip=True,
                          augment=True, batch_size=4, workers=0, shuffle=0)
    with pytest.raises(ConfigError, match="VQA cannot read webdataset shards"):
        train_data(VQA(), cfg, seed=0)
