"""The synthetic corpus: drawn scenes of shapes with captions, web alt-text, VQA and NLVR2."""

from blipctl.data.synth.spec import SynthSpec

__all__ = ["SynthSpec"]
