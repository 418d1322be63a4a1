"""The training engine: one loop for one process, DDP under torchrun, or DeepSpeed ZeRO."""
