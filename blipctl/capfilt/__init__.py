"""CapFilt (BLIP's caption-and-filter bootstrapping): data source, models, statistics, grid."""
