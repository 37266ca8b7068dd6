"""Real files made by the tests (pictures drawn with Pillow, crafted bad files) and uploads
staged the way the web app stages them."""

from __future__ import annotations

import io
import random
import struct
import zlib
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from teachbox.storage import Storage, new_id
from teachbox.uploads import UploadState, UploadStatus, staging_prefix, write_upload_status


def drawn_image(seed: int, size: tuple[int, int] = (400, 300), fmt: str = "JPEG") -> bytes:
    """A distinct picture per seed: a coloured background with a shape placed by the seed."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x, y = rng.randrange(size[0] - 40), rng.randrange(size[1] - 40)
        draw.ellipse((x, y, x + 40, y + 40), fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A small real PNG whose header claims ``width`` x ``height`` (CRC fixed, so it parses)."""
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(out, "PNG")
    data = bytearray(out.getvalue())
    ihdr = data[12:29]  # "IHDR" + 13 bytes of header
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


@dataclass
class StagedUpload:
    """An upload staged in storage the way the web app stages it, turned into a payload."""

    storage: Storage
    kind: str
    class_names: list[str]
    owner: str = "alice"
    project_name: str = "My project"
    upload_id: str = field(default_factory=new_id)
    project_id: str = field(default_factory=new_id)
    files: list[dict] = field(default_factory=list)
    pasted: dict[str, str] = field(default_factory=dict)
    labelled_csv: dict | None = None
    base_dataset_id: str = ""

    def _stage(self, data: bytes) -> str:
        key = f"{staging_prefix(self.upload_id)}f{len(self.files):04d}.bin"
        self.storage.put(key, data)
        return key

    def add_file(self, class_index: int, filename: str, data: bytes) -> StagedUpload:
        self.files.append({"class_index": class_index, "key": self._stage(data), "filename": filename})
        return self

    def add_images(self, class_index: int, count: int, first_seed: int = 0) -> StagedUpload:
        for n in range(count):
            self.add_file(class_index, f"photo{first_seed + n:03d}.jpg", drawn_image(first_seed + n))
        return self

    def add_labelled_csv(self, filename: str, data: bytes) -> StagedUpload:
        key = f"{staging_prefix(self.upload_id)}labelled.bin"
        self.storage.put(key, data)
        self.labelled_csv = {"key": key, "filename": filename}
        return self

    def payload(self, **options) -> dict:
        return {
            "upload_id": self.upload_id, "project_id": self.project_id, "owner": self.owner,
            "project_name": self.project_name, "kind": self.kind, "class_names": self.class_names,
            "files": self.files, "pasted": self.pasted, "labelled_csv": self.labelled_csv,
            "options": {"featurizer": "", "augment": False, **options},
            "base_dataset_id": self.base_dataset_id or None,
        }

    def mark_validating(self) -> None:
        """What the web app writes before it hands the upload to preprocess."""
        write_upload_status(self.storage, UploadStatus(
            upload_id=self.upload_id, project_id=self.project_id, owner=self.owner,
            state=UploadState.VALIDATING.value))
