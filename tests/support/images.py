"""Real images made on the spot with Pillow (no binary fixtures): photos with EXIF, a logo, a bomb header."""

from __future__ import annotations

import base64
import io
import struct
import zlib

from PIL import Image

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def photo_bytes(width: int = 2000, height: int = 1500, *, colour: tuple[int, int, int] = (180, 120, 60)) -> bytes:
    """A JPEG carrying EXIF with a camera make and a GPS position, as phones write them."""
    image = Image.new("RGB", (width, height), colour)
    for x in range(0, width, 50):  # some detail, so the encoder has real work
        image.paste((colour[2], colour[0], colour[1]), (x, 0, x + 10, height))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[ORIENTATION] = 1
    exif[GPS_IFD] = {1: "N", 2: (45.0, 45.0, 0.0), 3: "E", 4: (4.0, 50.0, 0.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, quality=90)
    return out.getvalue()


def logo_bytes(size: int = 400) -> bytes:
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    image.paste((200, 40, 90, 255), (size // 4, size // 4, 3 * size // 4, 3 * size // 4))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG whose header claims 900 megapixels: decoding it would take gigabytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def bad_exif_jpeg() -> bytes:
    """A JPEG whose EXIF asks for a rotation (so Pillow rewrites the block) and stores XResolution, a rational,
    as text: ImageOps.exif_transpose raises TypeError on it."""
    ifd = (
        struct.pack("<H", 2)
        + struct.pack("<HHIHH", ORIENTATION, 3, 1, 6, 0)  # SHORT, one value: 6 (rotate 90)
        + struct.pack("<HHI", 0x011A, 2, 4)  # XResolution declared ASCII, 4 bytes inline
        + b"abc\x00"
        + struct.pack("<I", 0)
    )
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd
    out = io.BytesIO()
    Image.new("RGB", (400, 340), (1, 2, 3)).save(out, format="JPEG", exif=b"Exif\x00\x00" + tiff)
    return out.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
