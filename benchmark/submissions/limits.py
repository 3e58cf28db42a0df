"""The limits a submission must stay within, in one place (documented in submissions/README.md).

Every limit is checked before anything is written outside a private temporary
folder: archive members from their declared sizes first, then again while
bytes are actually extracted (declared sizes can lie).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


@dataclass(frozen=True)
class Limits:
    max_files: int = 500_000  # files (archive members, folder entries) in one submission
    max_total_bytes: int = 20 * GIB  # uncompressed bytes of all files together
    max_file_bytes: int = 32 * MIB  # one file (an image, the manifest, the attributes CSV)
    max_ratio: float = 100.0  # uncompressed / compressed size, per member and for the whole archive
    ratio_floor_bytes: int = 1 * MIB  # the ratio is judged only above this many uncompressed bytes
    max_pixels: int = 4096 * 4096  # width x height of one image (a person crop is far smaller)
    max_path_chars: int = 1024  # one relative path
    max_name_bytes: int = 255  # one path component
    max_depth: int = 32  # folders in one relative path
    max_attribute_columns: int = 32
    max_own_values: int = 64  # distinct values of one declared (non-FineGPR) attribute column
    min_train_ids: int = 2  # softmax re-ID training needs at least two identities
    max_text_chars: int = 4000  # description
    max_license_chars: int = 200
    max_listed: int = 50  # messages of one kind kept in a report (the count is always exact)
    max_header_bytes: int = 64 * KIB  # one archive header: a tar PAX / GNU long-name header, a zip entry's record
    max_header_total: int = 64 * MIB  # all tar extended headers together; a zip's central directory

    def with_(self, **changes) -> "Limits":
        return replace(self, **changes)


DEFAULT_LIMITS = Limits()

# what an image may be: decoded format -> file extensions accepted for it
ACCEPTED_FORMATS: dict[str, tuple[str, ...]] = {"JPEG": (".jpg", ".jpeg"), "PNG": (".png",)}
IMAGE_EXTENSIONS = tuple(ext for exts in ACCEPTED_FORMATS.values() for ext in exts)
# image-like files that are refused (not silently ignored): a stranger may think they count
REFUSED_IMAGE_EXTENSIONS = (".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".heic", ".avif", ".jp2")
