"""The brief's photos and logo: checked with Pillow, re-encoded without metadata, resized, stored.

Only real images get through: the bytes must decode fully as JPEG, PNG or WebP, within a byte and a pixel
limit (a decompression bomb is refused before it is decoded). Re-encoding drops EXIF (GPS position, camera
serial numbers) and every other metadata block; the orientation EXIF asked for is applied first, so nothing
looks rotated. Each image is kept at a few widths for `srcset`, under a name derived from its bytes, so a
retried intake or build stores and reads the same files (idempotent by construction).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from orders.business_details import MAX_PHOTOS, ImageRef

if TYPE_CHECKING:
    from PIL import Image

# Pillow is imported by the functions that decode, not here: this module is imported by every
# process (the order form, the actions), and a cold serverless function would pay for Pillow on
# requests that carry no image.

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # about 7700 x 5200: any phone photo, far below what would exhaust a function's memory
MAX_TOTAL_PIXELS = 100_000_000  # every image of one brief together: six 12-megapixel photos and a logo fit
MIN_PHOTO_SIDE = 320
MIN_LOGO_SIDE = 48
PHOTO_WIDTHS = (480, 960, 1600)
LOGO_WIDTHS = (96, 192, 384)
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
JPEG_QUALITY = 82
STORAGE_ROOT = "brief-media"
DATA_URI = re.compile(r"^data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)


class InvalidImage(ValueError):
    """An upload that is not an image we accept; the message says why, for the customer."""


@dataclass(frozen=True)
class PreparedImage:
    id: str
    alt: str
    width: int
    height: int
    format: str  # "jpeg" (photos) or "png" (logos, which keep their transparency)
    renditions: tuple[tuple[int, bytes], ...]  # (width, encoded bytes), narrowest first

    def ref(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "alt": self.alt,
            "width": self.width,
            "height": self.height,
            "widths": [w for w, _ in self.renditions],
            "format": self.format,
        }


def decode_upload(data: str | bytes) -> bytes:
    """Base64 (optionally as a data: URI) to bytes; raw bytes pass through."""
    if isinstance(data, bytes):
        return data
    text = DATA_URI.sub("", data.strip())
    if len(text) > MAX_UPLOAD_BYTES * 4 // 3 + 8:
        raise InvalidImage(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidImage("The image must be base64-encoded.") from exc


def prepare_image(raw: bytes, *, alt: str = "", logo: bool = False) -> PreparedImage:
    """Check and re-encode one upload; raise InvalidImage with a reason the customer can act on."""
    from PIL import ImageOps

    if len(raw) > MAX_UPLOAD_BYTES:
        raise InvalidImage(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    if not raw:
        raise InvalidImage("The file is empty.")
    image = _open_checked(raw)
    try:
        # Pillow rewrites the EXIF block when it applies the orientation: a malformed block (a rational tag
        # stored as text, a bad offset) raises TypeError, struct.error and the like, which is the file's fault.
        ImageOps.exif_transpose(image, in_place=True)  # in place: no second copy of every pixel
    except Exception as exc:  # anything Pillow raises on these bytes is a damaged upload
        raise InvalidImage("The image's EXIF metadata is damaged; export the photo again and retry.") from exc
    minimum = MIN_LOGO_SIDE if logo else MIN_PHOTO_SIDE
    if min(image.size) < minimum:
        raise InvalidImage(f"The image is {image.width}x{image.height} px; give at least {minimum} px on each side.")
    image = _eight_bit(image)
    if logo:
        image = image.convert("RGBA")
        fmt, widths = "png", LOGO_WIDTHS
    else:
        image = _flattened(image)
        fmt, widths = "jpeg", PHOTO_WIDTHS
    # Never upscale: the widest rendition is the image's own width when it is smaller than the largest width.
    targets = sorted({w for w in widths if w < image.width} | {min(image.width, widths[-1])})
    renditions = tuple((w, _encode(_resized(image, w), fmt)) for w in targets)
    return PreparedImage(
        id=hashlib.sha256(raw).hexdigest()[:32],
        alt=" ".join(alt.split())[:200],
        width=image.width,
        height=image.height,
        format=fmt,
        renditions=renditions,
    )


def _open_checked(raw: bytes) -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; an error is what we want.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(raw))
            if probe.format not in ACCEPTED_FORMATS:
                raise InvalidImage(f"Give a JPEG, PNG or WebP image (this file is {probe.format or 'unknown'}).")
            if probe.width * probe.height > MAX_PIXELS:
                raise InvalidImage(
                    f"The image is {probe.width}x{probe.height} px; the limit is {MAX_PIXELS // 1_000_000} megapixels."
                )
            probe.verify()  # structure and checksums; the image must be reopened afterwards
            image = Image.open(io.BytesIO(raw))
            image.load()  # decodes every pixel: a truncated file fails here, not in a later step
            return image
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        limit = MAX_PIXELS // 1_000_000
        raise InvalidImage(f"The image has too many pixels; the limit is {limit} megapixels.") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage("The file is not an image we can read (JPEG, PNG or WebP).") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidImage("The image is damaged or truncated.") from exc


def _eight_bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit greyscale (PNG's I;16, I) scaled to 8 bits: convert() would clip every value above 255, so
    a mid grey came out white. Other modes convert to RGB(A) faithfully and are returned as they are."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        if image.mode != "I":
            image = image.convert("I")
        return image.point(lambda value: value / 256).convert("L")
    if image.mode == "F":
        return image.convert("L")
    return image


def _flattened(image: Image.Image) -> Image.Image:
    """A photo as RGB for JPEG: transparent areas laid on white. Dropping the alpha channel would show whatever
    colour the transparent pixels carry (often black, sometimes what the author cropped out)."""
    from PIL import Image

    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if not has_alpha:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _resized(image: Image.Image, width: int) -> Image.Image:
    from PIL import Image

    if width >= image.width:
        return image
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.LANCZOS)


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "png":
        image.save(out, format="PNG", optimize=True)
    else:
        # No exif= argument: Pillow writes no EXIF, XMP or ICC block unless asked.
        image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue()


def prepare_uploads(data: Mapping[str, Any]) -> tuple[list[PreparedImage], PreparedImage | None, dict[str, list[str]]]:
    """The brief's `photos` and `logo` uploads prepared, or errors by field (`photos`, `logo`)."""
    errors: dict[str, list[str]] = {}
    photos: list[PreparedImage] = []
    raw_photos = data.get("photos") or []
    if not isinstance(raw_photos, list | tuple) or len(raw_photos) > MAX_PHOTOS:
        return [], None, {"photos": [f"Give a list of at most {MAX_PHOTOS} photos."]}
    # Headers only, before any pixel is decoded: one request must not make us decode seven 40-megapixel images
    # (a few hundred kilobytes of flat PNGs: half a minute of CPU and gigabytes of memory).
    total = sum(_header_pixels(item) for item in [*raw_photos, data.get("logo")])
    if total > MAX_TOTAL_PIXELS:
        return (
            [],
            None,
            {
                "photos": [
                    f"Together the images have {total // 1_000_000} megapixels; the limit is "
                    f"{MAX_TOTAL_PIXELS // 1_000_000} for one brief (give smaller exports, e.g. 12 megapixels each)."
                ]
            },
        )
    for position, item in enumerate(raw_photos, start=1):
        try:
            photos.append(_prepare_item(item, logo=False))
        except InvalidImage as exc:
            errors.setdefault("photos", []).append(f"Photo {position}: {exc}")
    logo = None
    if data.get("logo"):
        try:
            logo = _prepare_item(data["logo"], logo=True)
        except InvalidImage as exc:
            errors.setdefault("logo", []).append(f"The logo: {exc}")
    return photos, logo, errors


def _header_pixels(item: Any) -> int:
    """The pixel count an upload's header declares, 0 when it has none (prepare_image then says what is wrong)."""
    from PIL import Image

    if not isinstance(item, Mapping) or not isinstance(item.get("data"), str | bytes):
        return 0
    try:
        raw = decode_upload(item["data"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            width, height = Image.open(io.BytesIO(raw)).size
    except Exception:  # noqa: BLE001 - not an image, or a bomb Pillow refuses: prepare_image gives the reason
        return 0
    return width * height


def _prepare_item(item: Any, *, logo: bool) -> PreparedImage:
    if not isinstance(item, Mapping) or not isinstance(item.get("data"), str | bytes):
        raise InvalidImage("give an object with data (the image, base64-encoded) and alt.")
    alt = item.get("alt") if isinstance(item.get("alt"), str) else ""
    return prepare_image(decode_upload(item["data"]), alt=alt, logo=logo)


def rendition_name(image_id: str, width: int, extension: str) -> str:
    return f"{STORAGE_ROOT}/{image_id}/{width}.{extension}"


def store_image(image: PreparedImage) -> dict[str, Any]:
    """Save every rendition through the storage API (skipped when already there); return the reference."""
    extension = "png" if image.format == "png" else "jpg"
    for width, content in image.renditions:
        name = rendition_name(image.id, width, extension)
        if not default_storage.exists(name):
            saved = default_storage.save(name, ContentFile(content))
            if saved != name:  # a concurrent intake of the same bytes got there first: same content
                default_storage.delete(saved)
    return image.ref()


def site_image_files(ref: ImageRef, *, prefix: str) -> dict[str, bytes]:
    """The stored renditions of one image as site files: `<prefix>-<width>.<ext>` -> bytes."""
    files = {}
    for width in ref.widths:
        with default_storage.open(rendition_name(ref.id, width, ref.extension), "rb") as fh:
            files[f"{prefix}-{width}.{ref.extension}"] = fh.read()
    return files
