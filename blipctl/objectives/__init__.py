"""BLIP's training objectives as modules: ITC, ITM with hard negatives, and LM."""
