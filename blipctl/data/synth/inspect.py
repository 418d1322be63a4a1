"""Reading a corpus back: its manifest and a human summary of what it holds."""

from __future__ import annotations

import json
from pathlib import Path

from blipctl.errors import BlipctlError


def read_manifest(corpus: str | Path, raw: bool = False):
    path = Path(corpus) / "manifest.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BlipctlError(f"{path}: not found; is {corpus} a corpus written by "
                           "`blipctl data synth`?") from None
    try:
        return text if raw else json.loads(text)
    except json.JSONDecodeError as e:
        raise BlipctlError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from None


def _first(corpus: Path, name: str, pick=lambda rows: rows[0]):
    rows = json.loads((corpus / name).read_text(encoding="utf-8"))
    return pick(rows) if rows else None


def summary_tables(corpus: str | Path) -> list:
    """Two rich tables: counts per file, and one example of each kind of text."""
    from rich.table import Table

    corpus = Path(corpus)
    m = read_manifest(corpus)
    counts = Table(title=f"corpus {corpus}", title_justify="left")
    counts.add_column("what")
    counts.add_column("count", justify="right")
    img = m["images"]
    counts.add_row("images (web / clean)", f"{img['total']} ({img['web']} / {img['clean']})")
    counts.add_row("clean split train / val / test",
                   f"{img['clean_train']} / {img['clean_val']} / {img['clean_test']}")
    noise = m["noise"]
    kinds = ", ".join(f"{k} {noise.get(k, 0)}" for k in ("junk", "mismatch", "attribute"))
    counts.add_row("noisy web alt-texts", f"{noise['fraction']:.1%} ({kinds})")
    for name, n in m["files"].items():
        counts.add_row(name, str(n))
    counts.add_row("webdataset shards", f"{m['shards']['count']} ({m['shards']['pattern']})")

    examples = Table(title="examples", title_justify="left", show_lines=False)
    examples.add_column("kind")
    examples.add_column("image")
    examples.add_column("text")
    cap = _first(corpus, "caption_val.json")
    if cap:
        examples.add_row("clean caption", cap["image"], " / ".join(cap["caption"][:3]))
    flags = json.loads((corpus / "web_noise.json").read_text(encoding="utf-8"))
    web = json.loads((corpus / "web.json").read_text(encoding="utf-8"))
    for kind in ("clean", "junk", "mismatch", "attribute"):
        i = next((i for i, f in enumerate(flags) if f["kind"] == kind), None)
        if i is not None:
            examples.add_row(f"web alt-text ({kind})", web[i]["image"], web[i]["caption"])
    q = _first(corpus, "vqa_val.json")
    if q:
        examples.add_row(f"vqa ({q['answer_type']})", q["image"],
                         f"{q['question']} -> {', '.join(q['answer'])}")
    s = _first(corpus, "nlvr_val.json")
    if s:
        examples.add_row("nlvr2", " + ".join(s["images"]), f"{s['sentence']} -> {s['label']}")
    return [counts, examples]
