"""Text: the BLIP tokenizer and BLIP's caption cleaning."""
