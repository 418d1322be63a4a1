"""Generate the synthetic corpus: the embedded default data set and every test's fixture."""

from __future__ import annotations

from dataclasses import dataclass, field

from blipctl.config import save_config
from blipctl.data.synth import SynthSpec
from blipctl.progress import progress


@dataclass
class SynthConfig:
    output_dir: str = "runs/corpus"
    corpus: SynthSpec = field(default_factory=SynthSpec)


def run(cfg: SynthConfig) -> dict:
    """Writes the corpus and its `config.yaml` to `cfg.output_dir`; returns the manifest."""
    from blipctl.data.synth.corpus import generate

    with progress(cfg.corpus.images, "drawing images") as advance:
        manifest = generate(cfg.corpus, cfg.output_dir, advance)
    save_config(cfg, run, cfg.output_dir)
    return manifest
