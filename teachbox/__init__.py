"""Teachbox: train an image or text classifier from a handful of examples.

The shared core: settings, storage, the domain records (projects, datasets, jobs,
model bundles) and the featurizers used identically by training and serving.
"""

__version__ = "0.1.0"
