"""The training daemon: claims jobs from storage, trains a head on frozen features, publishes
model versions. Entry point: ``trainer.daemon.main`` (``teachbox trainer``)."""
