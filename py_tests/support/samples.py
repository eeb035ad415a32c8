"""Real, small files of every allowed type, generated on the fly (Pillow, Faker)."""

import csv
import io
import random

from PIL import Image

from py_tests.support.factories import fake


def _image(fmt: str, size: tuple[int, int] = (24, 16), seed: int | None = None) -> bytes:
    rng = random.Random(seed)  # pixels, not secrets
    image = Image.new("RGB", size)
    image.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(size[0] * size[1])])
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def png(size: tuple[int, int] = (24, 16), seed: int | None = None) -> bytes:
    """Random pixels; the same `seed` gives the same file (for Hypothesis)."""
    return _image("PNG", size, seed)


def jpeg() -> bytes:
    return _image("JPEG")


def gif() -> bytes:
    return _image("GIF")


def pdf() -> bytes:
    return _image("PDF")


def text() -> bytes:
    return ("\n".join(fake.paragraphs(nb=3)) + "\nÜnïcødé ✓\n").encode()


def csv_bytes() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["name", "email", "city"])
    for _ in range(5):
        writer.writerow([fake.name(), fake.email(), fake.city()])
    return buffer.getvalue().encode()


BY_TYPE = {
    "image/png": (png, "png"),
    "image/jpeg": (jpeg, "jpg"),
    "image/gif": (gif, "gif"),
    "application/pdf": (pdf, "pdf"),
    "text/plain": (text, "txt"),
    "text/csv": (csv_bytes, "csv"),
}
