"""The frozen backbones: real ONNX exports checked against torch, and the serving contract.

``cache_dir`` (conftest) is shared by the session, so each backbone is exported once.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from teachbox.featurizers import (
    IMAGE_SIZE,
    Featurizer,
    create_featurizer,
    list_featurizers,
    load_image_array,
    register_featurizer,
    registry,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
SENTENCES = [
    "The delivery was late and the box was crushed.",
    "Great service, would recommend to friends!",
    "",
    "Ünïcödé text — 東京 works too.",
    "word " * 400,  # longer than the 256-token window: truncated like sentence-transformers
]
CROSSWORD_PUZZLE = 918  # ImageNet class index


def image_bytes(image: Image.Image, fmt: str = "PNG", **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save_args)
    return buffer.getvalue()


def drawn_image(size: tuple[int, int], background: str, disc: str) -> Image.Image:
    image = Image.new("RGB", size, background)
    ImageDraw.Draw(image).ellipse((size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2), disc)
    return image


def checkerboard(square: int = 28) -> Image.Image:
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), "white")
    draw = ImageDraw.Draw(image)
    for x in range(0, IMAGE_SIZE, square):
        for y in range(0, IMAGE_SIZE, square):
            if (x // square + y // square) % 2:
                draw.rectangle((x, y, x + square - 1, y + square - 1), "black")
    return image


@pytest.fixture(scope="session")
def lite0(cache_dir: Path) -> Featurizer:
    return create_featurizer("lite0", cache_dir)


@pytest.fixture(scope="session")
def minilm(cache_dir: Path) -> Featurizer:
    return create_featurizer("minilm", cache_dir)


@pytest.fixture(scope="session")
def photos() -> list[bytes]:
    return [
        image_bytes(drawn_image((300, 200), "steelblue", "orange")),
        image_bytes(drawn_image((480, 640), "darkgreen", "red"), "JPEG", quality=90),
        image_bytes(checkerboard()),
    ]


def test_builtin_featurizers_are_listed() -> None:
    assert {"lite0", "minilm"} <= set(list_featurizers())


def test_unknown_featurizer_names_the_valid_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown featurizer 'resnet'; choose one of: .*lite0"):
        create_featurizer("resnet", tmp_path)


def test_export_writes_versioned_graphs_and_no_temporary_files(
    cache_dir: Path, lite0: Featurizer, minilm: Featurizer
) -> None:
    names = {path.name for path in cache_dir.iterdir()}
    assert {f"lite0-{lite0.version}.onnx", f"minilm-{minilm.version}.onnx"} <= names
    assert not [name for name in names if name.endswith(".tmp")]


def test_second_create_featurizer_returns_the_cached_instance(
    cache_dir: Path, lite0: Featurizer
) -> None:
    assert create_featurizer("lite0", cache_dir) is lite0
    assert create_featurizer("lite0", cache_dir, threads=2) is not lite0


def test_image_features_are_float32_rows_of_1280(lite0: Featurizer, photos: list[bytes]) -> None:
    features = lite0.featurize(photos)
    assert (features.shape, features.dtype) == ((3, 1280), np.float32)
    assert np.isfinite(features).all()


def test_image_onnx_features_match_the_torch_backbone(
    lite0: Featurizer, photos: list[bytes]
) -> None:
    import torch

    from teachbox.featurizers.export import lite0_backbone

    pixels = torch.from_numpy(np.stack([load_image_array(photo) for photo in photos]))
    with torch.inference_mode():
        expected = lite0_backbone()(pixels).numpy()
    np.testing.assert_allclose(lite0.featurize(photos), expected, atol=1e-4, rtol=0)


def test_pretrained_classifier_calls_a_checkerboard_a_crossword_puzzle() -> None:
    import torch

    from teachbox.featurizers.export import lite0_classifier

    pixels = torch.from_numpy(load_image_array(image_bytes(checkerboard())))[None]
    with torch.inference_mode():
        logits = lite0_classifier()(pixels)
    assert int(logits.argmax()) == CROSSWORD_PUZZLE


def test_image_features_are_deterministic_and_independent_of_batch_size(
    lite0: Featurizer, photos: list[bytes]
) -> None:
    first = lite0.featurize(photos, batch_size=3)
    np.testing.assert_array_equal(lite0.featurize(photos, batch_size=3), first)
    np.testing.assert_allclose(lite0.featurize(photos, batch_size=1), first, atol=1e-5)


def test_progress_reports_items_done_after_each_batch(
    lite0: Featurizer, photos: list[bytes]
) -> None:
    calls = []
    lite0.featurize(photos, batch_size=2, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 3), (3, 3)]


def test_empty_input_gives_no_rows(lite0: Featurizer, minilm: Featurizer) -> None:
    assert lite0.featurize([]).shape == (0, 1280)
    assert minilm.featurize([]).shape == (0, 384)


def test_undecodable_bytes_raise_value_error_naming_the_input(
    lite0: Featurizer, photos: list[bytes]
) -> None:
    with pytest.raises(ValueError, match=r"input 1: not a JPEG, PNG, WebP, GIF or BMP image"):
        lite0.featurize([photos[0], b"this is not an image"])


def test_truncated_image_raises_value_error_saying_it_is_damaged(photos: list[bytes]) -> None:
    jpeg = photos[1]
    with pytest.raises(ValueError, match=r"image data is damaged \(image file is truncated"):
        load_image_array(jpeg[: len(jpeg) // 2])


def test_text_given_to_the_image_featurizer_is_refused(lite0: Featurizer) -> None:
    with pytest.raises(ValueError, match="input 0 is str, expected image bytes"):
        lite0.featurize(["cat.jpg"])


def test_image_array_is_scaled_to_minus_one_one() -> None:
    white = load_image_array(image_bytes(Image.new("RGB", (500, 300), "white")))
    black = load_image_array(image_bytes(Image.new("L", (64, 64), 0)))
    assert (white.shape, white.dtype) == ((3, IMAGE_SIZE, IMAGE_SIZE), np.float32)
    assert (white == 1.0).all() and (black == -1.0).all()


def test_image_is_resized_by_short_side_and_centre_cropped() -> None:
    image = Image.new("RGB", (3 * IMAGE_SIZE, IMAGE_SIZE), "red")
    image.paste((0, 0, 255), (IMAGE_SIZE, 0, 2 * IMAGE_SIZE, IMAGE_SIZE))
    pixels = load_image_array(image_bytes(image))
    assert (pixels[2] == 1.0).all() and (pixels[0] == -1.0).all()


def test_exif_orientation_is_applied_before_cropping() -> None:
    image = drawn_image((320, 240), "white", "black")
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    rotated_by_camera = image_bytes(image, exif=exif)
    upright = image_bytes(image.transpose(Image.Transpose.ROTATE_270))
    np.testing.assert_array_equal(load_image_array(rotated_by_camera), load_image_array(upright))


def test_transparent_pixels_become_white() -> None:
    transparent = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    assert (load_image_array(image_bytes(transparent)) == 1.0).all()


def test_describe_records_what_reproduces_the_features(lite0: Featurizer) -> None:
    description = lite0.describe()
    assert description["name"] == "lite0" and description["dim"] == 1280
    assert description["input"]["image_size"] == IMAGE_SIZE
    assert description["input"]["scaling"] == {
        "formula": "(x / 255 - mean) / std",
        "mean": 0.5,
        "std": 0.5,
    }
    json.dumps(description)


def test_text_embeddings_match_sentence_transformers(minilm: Featurizer) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    from teachbox.featurizers.text import minilm_model_dir

    reference = SentenceTransformer(str(minilm_model_dir()), device="cpu")
    expected = reference.encode(SENTENCES, convert_to_numpy=True)
    np.testing.assert_allclose(minilm.featurize(SENTENCES), expected, atol=1e-4, rtol=0)


def test_text_embeddings_are_unit_length_float32_rows_of_384(minilm: Featurizer) -> None:
    features = minilm.featurize(SENTENCES)
    assert (features.shape, features.dtype) == ((len(SENTENCES), 384), np.float32)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)


def test_texts_sorted_for_batching_come_back_in_input_order(minilm: Featurizer) -> None:
    batched = minilm.featurize(SENTENCES, batch_size=2)
    one_by_one = np.concatenate([minilm.featurize([text]) for text in SENTENCES])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    np.testing.assert_array_equal(minilm.featurize(SENTENCES, batch_size=2), batched)


def test_bytes_given_to_the_text_featurizer_are_refused(minilm: Featurizer) -> None:
    with pytest.raises(ValueError, match="input 1 is bytes, expected text"):
        minilm.featurize(["fine", b"raw"])


def test_serving_path_imports_neither_torch_nor_transformers(
    cache_dir: Path, lite0: Featurizer, minilm: Featurizer, photos: list[bytes], tmp_path: Path
) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(photos[0])
    script = f"""
import sys
from pathlib import Path
from teachbox.featurizers import create_featurizer
create_featurizer("lite0", {str(cache_dir)!r}).featurize([Path({str(photo)!r}).read_bytes()])
create_featurizer("minilm", {str(cache_dir)!r}).featurize(["hello"])
heavy = {{"torch", "transformers", "sentence_transformers"}}
print(sorted(name for name in sys.modules if name.split(".")[0] in heavy))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_unreadable_cached_graph_is_exported_again(tmp_path: Path, photos: list[bytes]) -> None:
    (tmp_path / "lite0-1.onnx").write_bytes(b"half a file")
    featurizer = create_featurizer("lite0", tmp_path)
    assert featurizer.featurize(photos[:1]).shape == (1, 1280)


def test_failed_export_leaves_neither_a_graph_nor_a_temporary_file(
    tmp_path: Path, monkeypatch
) -> None:
    import torch

    from teachbox.featurizers import export

    def crash(*args, **kwargs) -> None:
        Path(args[2]).write_bytes(b"half a graph")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(torch.onnx, "export", crash)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        export.export_onnx("lite0", tmp_path / "lite0-1.onnx")
    assert list(tmp_path.iterdir()) == []


def test_registered_builder_is_created_by_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(registry, "_builders", dict(registry._builders))
    monkeypatch.setattr(registry, "_instances", {})

    class Constant(Featurizer):
        name, kind, version, dim = "constant", "text", "1", 2

        def featurize(self, inputs, batch_size=None, progress=None) -> np.ndarray:
            return np.ones((len(inputs), self.dim), dtype=np.float32)

    @register_featurizer("constant")
    def build_constant(cache_dir: Path, threads: int) -> Featurizer:
        return Constant()

    featurizer = create_featurizer("constant", tmp_path)
    assert featurizer.featurize(["a"]).tolist() == [[1.0, 1.0]]
    assert "constant" in list_featurizers()


def test_entry_point_builders_are_found_on_first_lookup(
    cache_dir: Path, lite0: Featurizer, monkeypatch
) -> None:
    plugin = EntryPoint(
        name="plugin-lite0",
        value="teachbox.featurizers.image:build_image_featurizer",
        group=registry.ENTRY_POINT_GROUP,
    )
    monkeypatch.setattr(registry, "_builders", dict(registry._builders))
    monkeypatch.setattr(registry, "_entry_points", {})
    monkeypatch.setattr(registry, "_instances", {})
    monkeypatch.setattr(registry, "_discovered", False)
    monkeypatch.setattr(registry, "entry_points", lambda group: [plugin])
    assert "plugin-lite0" in list_featurizers()
    assert create_featurizer("plugin-lite0", cache_dir).name == "lite0"


def test_a_multi_picture_phone_jpeg_is_read_as_its_first_picture() -> None:
    red = Image.new("RGB", (300, 300), (255, 0, 0))
    buffer = io.BytesIO()
    red.save(buffer, "MPO", save_all=True, append_images=[Image.new("RGB", (300, 300))])
    pixels = load_image_array(buffer.getvalue())
    assert pixels[0].mean() > 0.9 and pixels[1].mean() < -0.9  # red, not the black second picture


def test_a_non_image_is_refused_even_though_mpo_is_an_accepted_format() -> None:
    with pytest.raises(ValueError, match="not a JPEG, PNG, WebP, GIF or BMP image"):
        load_image_array(b"%PDF-1.4 not an image at all")
