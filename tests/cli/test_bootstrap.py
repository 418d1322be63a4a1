"""`blipctl bootstrap` end to end on the test corpus with a tiny pretraining run as captioner
and filter (zero-shot): outputs, provenance, statistics, SIGKILL/resume, and training on the
output shards."""

import json
import signal
import subprocess
import sys
import tarfile
import time

import pytest

from blipctl.capfilt.stats import roc_auc
from tests.conftest import TINY, run_cli


def bootstrap_args(pretrained, root, out, *extra):
    run_dir, _ = pretrained
    return ["bootstrap", "mini/bootstrap", f"input.root={root}", f"output_dir={out}",
            f"captioner.model={run_dir}", f"filter.model={run_dir}", "input.shard_size=12",
            "batch_size=4", "captioner.captions_per_image=2", *extra]


def parts(out):
    return [json.loads(p.read_text()) for p in sorted((out / "parts").glob("*.json"))]


@pytest.fixture(scope="module")
def boot(pretrained, corpus, tmp_path_factory):
    root, _ = corpus
    out = tmp_path_factory.mktemp("boot") / "capfilt"
    r = run_cli(*bootstrap_args(pretrained, root, out, "filter.keep_fraction=0.5"))
    assert r.returncode == 0, r.stderr
    return out, r


def test_bootstrap_keeps_the_top_fraction_with_provenance(boot, corpus):
    out, r = boot
    root, _ = corpus
    web = json.loads((root / "web.json").read_text())
    ps = parts(out)
    assert len(ps) == 6  # 72 web images in shards of 12
    cands = [c for p in ps for c in p["candidates"]]
    assert sum(c["source"] == "web" for c in cands) == len(web)
    assert sum(c["source"] == "synthetic" for c in cands) == 2 * len(web)  # K = 2
    assert len({c["score"] for c in cands}) > len(cands) // 2  # the filter tells texts apart
    for p in ps:  # each shard keeps exactly its best half
        scores = sorted((c["score"] for c in p["candidates"]), reverse=True)
        kept = sorted((c["score"] for c in p["candidates"] if c["keep"]), reverse=True)
        assert kept == scores[:len(scores) // 2]
    ann = json.loads((out / "annotations.json").read_text())
    kept = [(c["image"], c["caption"]) for c in cands if c["keep"]]
    assert [(a["image"], a["caption"]) for a in ann] == kept
    assert all(a["captioner"] and a["filter"] and a["source"] in ("web", "synthetic") for a in ann)
    # the shards hold the same kept pairs, with the image bytes and the provenance
    in_tars = []
    for i in range(6):
        with tarfile.open(out / "shards" / f"{i:06d}.tar") as tar:
            metas = [json.loads(tar.extractfile(m).read()) for m in tar if m.name.endswith(".json")]
            assert sum(m.name.endswith(".jpg") for m in tar.getmembers()) == len(metas)
        in_tars += [(m["image"], m["caption"], m["source"], m["score"]) for m in metas]
    assert in_tars == [(a["image"], a["caption"], a["source"], a["score"]) for a in ann]
    assert (out / "grid.png").stat().st_size > 10_000
    assert "synthetic" in r.stdout and "kept" in r.stdout


def hand_auc(noisy: list[dict], clean: list[dict]) -> float:
    """ROC AUC by hand: the share of (noisy, clean) pairs the filter orders right, ties half."""
    pairs = [(a, b) for a in noisy for b in clean]
    return sum((a["score"] < b["score"]) + 0.5 * (a["score"] == b["score"]) for a, b in pairs) / len(pairs)


def test_noise_statistics_agree_with_a_hand_count(boot):
    out, _ = boot
    summary = json.loads((out / "summary.json").read_text())
    web = [c for p in parts(out) for c in p["candidates"] if c["source"] == "web"]
    noisy = [c for c in web if c["noisy"]]
    removed = [c for c in web if not c["keep"]]
    tp = sum(c["noisy"] for c in removed)
    noise = summary["noise"]
    assert noise["noisy"] == len(noisy) > 0
    assert noise["precision"] == pytest.approx(100 * tp / len(removed))
    assert noise["recall"] == pytest.approx(100 * tp / len(noisy))
    clean = [c for c in web if not c["noisy"]]
    assert noise["roc_auc"] == pytest.approx(hand_auc(noisy, clean))
    clean_removed = sum(not c["keep"] for c in clean)
    for kind, k in noise["by_kind"].items():  # each kind against the clean texts alone
        these = [c for c in noisy if c["kind"] == kind]
        hits = sum(not c["keep"] for c in these)
        assert (k["texts"], k["removed"]) == (len(these), hits)
        assert k["recall"] == pytest.approx(100 * hits / len(these))
        if hits:
            assert k["precision"] == pytest.approx(100 * hits / (hits + clean_removed))
        assert k["roc_auc"] == pytest.approx(hand_auc(these, clean))
    assert sum(k["texts"] for k in noise["by_kind"].values()) == len(noisy)
    assert summary["sources"]["web"]["kept"] + summary["sources"]["web"]["removed"] == len(web)


def test_roc_auc_against_brute_force_with_ties():
    import random

    rng = random.Random(0)
    for _ in range(20):
        scores = [rng.choice([0.1, 0.2, 0.3, rng.random()]) for _ in range(30)]
        labels = [rng.random() < 0.4 for _ in range(30)]
        pos = [s for s, y in zip(scores, labels, strict=True) if y]
        neg = [s for s, y in zip(scores, labels, strict=True) if not y]
        brute = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
        assert roc_auc(scores, labels) == pytest.approx(brute)
    assert roc_auc([0.5, 0.7], [True, True]) is None


def test_sigkill_then_rerun_gives_the_same_output_as_one_run(boot, pretrained, corpus, tmp_path):
    root, _ = corpus
    out = tmp_path / "killed"
    args = bootstrap_args(pretrained, root, out, "filter.keep_fraction=0.5")
    cmd = [sys.executable, "-m", "blipctl", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list((out / "parts").glob("*.json")) if (out / "parts").exists() else True:
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "summary.json").exists()  # killed mid-way
    done = len(list((out / "parts").glob("*.json")))
    assert 1 <= done < 6
    r = run_cli(*bootstrap_args(pretrained, root, out, "filter.keep_fraction=0.5"))
    assert r.returncode == 0, r.stderr
    assert f"{done} shard(s) already done" in r.stderr
    ref, _ = boot
    assert (out / "annotations.json").read_text() == (ref / "annotations.json").read_text()
    for i in range(6):  # no duplicated and no lost pairs, byte for byte
        name = f"shards/{i:06d}.tar"
        assert (out / name).read_bytes() == (ref / name).read_bytes()
    assert not list(out.rglob("*.tmp"))


def test_a_rerun_with_another_recipe_is_refused(boot, pretrained, corpus):
    out, _ = boot
    root, _ = corpus
    r = run_cli(*bootstrap_args(pretrained, root, out, "filter.threshold=0.7"))
    assert r.returncode == 2
    assert "different recipe (changed: filter.keep_fraction, filter.threshold)" in r.stderr
    assert "Traceback" not in r.stderr


def test_unreadable_image_is_reported_and_the_rest_bootstrapped(pretrained, corpus, tmp_path):
    root, _ = corpus
    web = json.loads((root / "web.json").read_text())[:5]
    recs = [{"image": str(root / w["image"]), "caption": w["caption"]} for w in web]
    recs.insert(2, {"image": str(tmp_path / "missing.jpg"), "caption": "a red circle"})
    (tmp_path / "web.json").write_text(json.dumps(recs))
    r = run_cli(*bootstrap_args(pretrained, tmp_path, tmp_path / "out", "input.noise=null",
                                "filter.threshold=0"))
    assert r.returncode == 1
    assert "missing.jpg" in r.stderr and "1 image(s) could not be read" in r.stderr
    assert "Traceback" not in r.stderr
    ann = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert len({a["image"] for a in ann}) == 5  # every readable image, all texts kept


def test_output_shards_load_back_as_pretraining_data(boot, corpus, tmp_path):
    out, _ = boot
    r = run_cli("pretrain", "mini/pretrain", f"data.root={out}", 'data.train=["shards/{000000..000005}.tar"]',
                f"codec.vocab_file={corpus[0] / 'vocab.txt'}",  # the source corpus's tokenizer
                f"output_dir={tmp_path / 'pre'}", *TINY, "max_steps=3", "model.queue_size=32")
    assert r.returncode == 0, r.stderr
    logged = [json.loads(line) for line in (tmp_path / "pre" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in logged] == [1, 2, 3] and all(m["lm"] > 0 for m in logged)




def test_grid_draws_dollar_signs_as_text(tmp_path):
    """Web alt-text such as "$5 off $20" is not TeX: matplotlib would fail to parse it."""
    from PIL import Image

    from blipctl.capfilt.grid import draw_grid

    Image.new("RGB", (32, 32), "red").save(tmp_path / "a.jpg")
    cands = [{"key": "0", "image": "a.jpg", "caption": "save $5 off orders over $20 | free", "source": "web",
              "score": 0.2, "keep": False},
             {"key": "0", "image": "a.jpg", "caption": "a $red circle", "source": "synthetic", "score": None,
              "keep": True}]
    path = draw_grid(tmp_path, cands, 1, tmp_path / "grid.png", root=tmp_path)
    assert path.stat().st_size > 5_000
