"""Checkpoint formats: transformers, original BLIP `.pth`, and blipctl's own safetensors."""
