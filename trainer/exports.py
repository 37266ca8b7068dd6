"""Downloadable exports of a model version: backbone + head in one graph, ONNX and TorchScript.

Written under ``projects/<id>/models/<version>/exports/``:

    model.onnx             probabilities from pixels (images) or input_ids/attention_mask (text)
    model.torchscript.pt   the same model, ``torch.jit.load``-able
    classes.txt            one class name per line, in output order
    tokenizer.json         text models: the tokenizer that makes input_ids
    README.md              how to load each file
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from teachbox.bundles import ModelMeta, bundle_key
from teachbox.featurizers.catalog import BUILTIN
from teachbox.featurizers.export import ONNX_OPSET, lite_backbone, minilm_encoder
from teachbox.featurizers.text import minilm_model_dir
from teachbox.serving import Head
from teachbox.storage import Storage

__all__ = ["HeadModule", "FullModel", "NotExportable", "build_full_model", "example_inputs",
           "export_onnx_file", "write_exports"]

_logger = logging.getLogger(__name__)


class HeadModule(nn.Module):
    """The numpy :class:`Head` as torch layers: standardize, dense (ReLU between), softmax."""

    def __init__(self, head: Head) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(np.array(head.mean, dtype=np.float32)))
        self.register_buffer("scale", torch.from_numpy(np.array(head.scale, dtype=np.float32)))
        layers = []
        for w, b in zip(head.weights, head.biases, strict=True):
            layer = nn.Linear(w.shape[1], w.shape[0])
            layer.weight.data = torch.from_numpy(np.array(w, dtype=np.float32))
            layer.bias.data = torch.from_numpy(np.array(b, dtype=np.float32))
            layers.append(layer)
        self.layers = nn.ModuleList(layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = (features - self.mean) / self.scale
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index < len(self.layers) - 1:
                x = torch.relu(x)
        return torch.softmax(x, dim=1)


class FullModel(nn.Module):
    """Backbone then head: raw network input to class probabilities."""

    def __init__(self, backbone: nn.Module, head: HeadModule) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(*inputs))


# Backbones whose torch module Teachbox can rebuild for a whole-model download.
_EXPORTABLE = ("lite0", "lite1", "lite2", "minilm")


class NotExportable(ValueError):
    """The model's backbone (a plugin, or a fine-tuned encoder) has no whole-model export."""


def build_full_model(kind: str, head: Head, featurizer: str = "") -> FullModel:
    """Backbone ``featurizer`` (the kind's default when empty) + ``head`` as one torch module."""
    featurizer = featurizer or ("lite0" if kind == "image" else "minilm")
    if featurizer not in _EXPORTABLE:
        raise NotExportable(f"downloads are only built for the models {', '.join(_EXPORTABLE)}; "
                            f"this one runs on {featurizer!r}")
    backbone = lite_backbone(featurizer) if kind == "image" else minilm_encoder()
    return FullModel(backbone, HeadModule(head)).eval()


def example_inputs(kind: str, image_size: int = 224) -> tuple[tuple[torch.Tensor, ...], dict]:
    """An example batch for tracing, and the ONNX input/output names and dynamic axes."""
    if kind == "image":
        return (torch.zeros(1, 3, image_size, image_size),), {
            "input_names": ["pixels"], "output_names": ["probabilities"],
            "dynamic_axes": {"pixels": {0: "batch"}, "probabilities": {0: "batch"}},
        }
    # Two rows of different lengths, so padding is part of the traced example.
    input_ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.int64)
    axes = {0: "batch", 1: "tokens"}
    return (input_ids, (input_ids != 0).to(torch.int64)), {
        "input_names": ["input_ids", "attention_mask"], "output_names": ["probabilities"],
        "dynamic_axes": {"input_ids": axes, "attention_mask": axes, "probabilities": {0: "batch"}},
    }


def _ignore_tracing_warnings() -> None:
    """Call inside ``warnings.catch_warnings()``."""
    # Deliberate: the legacy TorchScript-based exporter gives the graph checked in DESIGN.md.
    warnings.filterwarnings("ignore", "You are using the legacy TorchScript-based ONNX export",
                            DeprecationWarning)
    warnings.filterwarnings("ignore", module=r"torch\.onnx")
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    # TorchScript is deprecated upstream but is still what users ask to download (issue 5).
    warnings.filterwarnings("ignore", r"`torch\.jit\.trace", FutureWarning)
    # Tracing probes every attribute of the BERT module, tripping transformers' deprecations.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.")


def export_onnx_file(model: FullModel, kind: str, path: Path, image_size: int = 224) -> None:
    example, names = example_inputs(kind, image_size)
    with warnings.catch_warnings(), torch.no_grad():
        _ignore_tracing_warnings()
        torch.onnx.export(model, example, str(path), dynamo=False, opset_version=ONNX_OPSET,
                          do_constant_folding=True, **names)


def _torchscript_file(model: FullModel, kind: str, path: Path, image_size: int = 224) -> None:
    example, _ = example_inputs(kind, image_size)
    with warnings.catch_warnings(), torch.no_grad():
        _ignore_tracing_warnings()
        traced = torch.jit.trace(model, example, check_trace=False)
    traced.save(str(path))


def _readme(meta: ModelMeta) -> str:
    classes = ", ".join(meta.class_names)
    if meta.kind == "image":
        usage = """Input: `pixels`, float32 `[batch, 3, 224, 224]`, RGB. Resize the short side to 224
(bilinear), centre-crop 224x224, then scale each value as `(x / 255 - 0.5) / 0.5`.

```python
import numpy as np, onnxruntime as ort
from PIL import Image
image = Image.open("photo.jpg").convert("RGB")
scale = 224 / min(image.size)
image = image.resize((max(224, round(image.width * scale)), max(224, round(image.height * scale))))
left, top = (image.width - 224) // 2, (image.height - 224) // 2
pixels = np.asarray(image.crop((left, top, left + 224, top + 224)), dtype=np.float32)
pixels = ((pixels / 255 - 0.5) / 0.5).transpose(2, 0, 1)[None]
session = ort.InferenceSession("model.onnx")
probabilities = session.run(["probabilities"], {"pixels": pixels})[0]
```

TorchScript: `torch.jit.load("model.torchscript.pt")(torch.from_numpy(pixels))`."""
        size = meta.featurizer.get("input", {}).get("image_size", 224)
        usage = usage.replace("224", str(size))  # the Lite1/Lite2 backbones read larger squares
    else:
        usage = """Inputs: `input_ids` and `attention_mask`, int64 `[batch, tokens]`, from `tokenizer.json`
(all-MiniLM-L6-v2, at most 256 tokens).

```python
import numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
tokenizer = Tokenizer.from_file("tokenizer.json")
tokenizer.no_padding(); tokenizer.enable_truncation(256)
ids = np.array([tokenizer.encode("some text").ids], dtype=np.int64)
session = ort.InferenceSession("model.onnx")
probabilities = session.run(["probabilities"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]
```

TorchScript: `torch.jit.load("model.torchscript.pt")(torch.from_numpy(ids), torch.from_numpy(mask))`."""
    note = meta.head.get("exports_note", "")
    return (
        f"# Teachbox model {meta.version} ({meta.kind})\n\n"
        f"Output: `probabilities`, float32 `[batch, {len(meta.class_names)}]`, columns in the order of "
        f"`classes.txt` ({classes}).\n\n{usage}\n" + (f"\nNote: {note}\n" if note else "")
    )


def write_exports(storage: Storage, meta: ModelMeta, head: Head, cache_dir: str | Path) -> list[str]:
    """Build and store every export of ``meta``; returns the bundle file names written."""
    name = meta.featurizer.get("name", "")
    model = build_full_model(meta.kind, head, name)
    size = BUILTIN[name].image_size if name in BUILTIN else 224
    files: dict[str, bytes] = {
        "exports/classes.txt": ("\n".join(meta.class_names) + "\n").encode("utf-8"),
        "exports/README.md": _readme(meta).encode("utf-8"),
    }
    if meta.kind == "text":
        files["exports/tokenizer.json"] = (minilm_model_dir() / "tokenizer.json").read_bytes()
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".export-") as tmp:
        onnx_path, script_path = Path(tmp) / "model.onnx", Path(tmp) / "model.torchscript.pt"
        export_onnx_file(model, meta.kind, onnx_path, size)
        _torchscript_file(model, meta.kind, script_path, size)
        files["exports/model.onnx"] = onnx_path.read_bytes()
        files["exports/model.torchscript.pt"] = script_path.read_bytes()
    # Graphs first, the small files last: README.md present means the set is complete.
    for name in sorted(files, key=lambda n: n.endswith("README.md")):
        storage.put(bundle_key(meta.project_id, meta.version, name), files[name])
    _logger.info("exports of %s/%s written", meta.project_id, meta.version)
    return sorted(files)
