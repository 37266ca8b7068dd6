"""Run in a fresh process with the test plugin on PYTHONPATH: preprocess's name check, a real
training job on the plugin's features, then serving the promoted model. Prints one JSON line.

Usage: ``python -m tests.models.plugin_run <storage folder> <cache folder>``.
"""

from __future__ import annotations

import json
import sys

from teachbox.bundles import current_version
from teachbox.featurizers.catalog import check_featurizer_name, installed_plugins
from teachbox.jobs import get_job, submit_job
from teachbox.serving import load_model
from teachbox.settings import load_settings
from teachbox.storage import LocalStorage
from tests.trainer.conftest import shapes, write_image_dataset
from trainer.worker import Worker


def main(folder: str, cache_dir: str) -> dict:
    storage = LocalStorage(folder)
    settings = load_settings(env={}, storage=f"file://{folder}", cache_dir=cache_dir, secret_key="x")
    name = check_featurizer_name("colorhist", "image")
    manifest = write_image_dataset(storage, shapes(8, seed=11, classes=("circle", "square")))
    job = submit_job(storage, manifest.project_id, manifest.dataset_id, "image", featurizer=name)
    Worker(storage, settings, export=True).work(burst=True)
    done = get_job(storage, job.job_id)
    version = current_version(storage, manifest.project_id)
    model = load_model(storage, manifest.project_id, version, cache_dir)
    val = manifest.split("val")
    images = [storage.get(f"projects/{manifest.project_id}/datasets/{manifest.dataset_id}/samples/"
                          f"{s.class_index}/{s.sha256}.png") for s in val]
    return {
        "plugins": installed_plugins(), "state": done.state, "metrics": done.metrics,
        "featurizer": model.meta.featurizer, "served_by": type(model.featurizer).__name__,
        "served": model.predict_proba(images).tolist(),
        "stored": [row["probabilities"] for row in model.meta.metrics["val_predictions"]],
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
