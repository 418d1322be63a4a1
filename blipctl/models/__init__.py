"""Models: vision towers (timm), MED, and the BLIP task models. torch and timm only."""
