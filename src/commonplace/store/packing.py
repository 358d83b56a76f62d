"""Texts kept compressed in the store: a batch's raw output and debug log, a
run's canonical document. Each has a plain TEXT column and a `_z` column
(M007) holding the same text zlib-compressed; a row fills at most one of the
two. Texts of `PACK_ABOVE` bytes or more are packed when that saves space;
readers never see the difference, and export writes the plain text."""

from __future__ import annotations

import zlib

from commonplace.errors import UserError

PACK_ABOVE = 256  # bytes of UTF-8; below it the zlib header costs more than it saves
PACKED = {
    "review_batches": ("raw_output", "debug_log"),
    "review_runs": ("raw_bundle_markdown",),
}
_MAX_TEXT = 256 * 1024 * 1024  # no stored text inflates beyond this


def pack(text: str | None) -> tuple[str | None, bytes | None]:
    """(plain, packed) values of the two columns for `text`."""
    if text is None:
        return None, None
    data = text.encode("utf-8")
    if len(data) < PACK_ABOVE:
        return text, None
    packed = zlib.compress(data, 6)
    return (text, None) if len(packed) >= len(data) else (None, packed)


def unpack(plain: str | None, packed: bytes | memoryview | None) -> str | None:
    """The text of a row's two columns."""
    if packed is None:
        return plain
    try:
        inflater = zlib.decompressobj()
        data = inflater.decompress(bytes(packed), _MAX_TEXT)
        if inflater.unconsumed_tail or not inflater.eof:
            raise zlib.error("truncated or too large")
        return data.decode("utf-8")
    except (zlib.error, UnicodeDecodeError) as exc:
        raise UserError(
            f"a compressed text in the review store is damaged ({exc}); run"
            " `commonplace-review-store check`"
        ) from None
