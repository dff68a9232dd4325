"""Find the text encoding of a Shapefile's DBF table.

Chinese shapefiles are very often GBK-encoded with no ``.cpg`` beside them; GDAL then falls back to
ISO-8859-1 and every name turns to mojibake. We read the DBF's character fields ourselves, try the
declared or likely encodings strictly, and report the first row and field that does not decode.
"""

from __future__ import annotations

import struct

from geodata.errors import EncodingError, InputFileError

_LDID_ENCODINGS = {0x4D: "gbk", 0x7A: "gbk", 0x57: "cp1252", 0x03: "cp1252", 0x01: "cp437"}


def _character_fields(dbf: bytes, file: str) -> tuple[int, int, int, list[tuple[str, int, int]]]:
    if len(dbf) < 32:
        raise InputFileError("the .dbf file is truncated (no header)", file=file)
    records, header_len, record_len = struct.unpack("<IHH", dbf[4:12])
    fields: list[tuple[str, int, int]] = []
    offset, pos = 1, 32
    while pos + 32 <= header_len and dbf[pos] != 0x0D:
        name = dbf[pos : pos + 11].split(b"\0", 1)[0].decode("latin-1")
        kind, size = chr(dbf[pos + 11]), dbf[pos + 16]
        if kind == "C":
            size += 256 * dbf[pos + 17]  # long character fields keep their high byte here
            fields.append((name, offset, size))
        offset += size
        pos += 32
    if header_len + records * record_len > len(dbf):
        held = max(0, (len(dbf) - header_len) // max(record_len, 1))
        raise InputFileError(
            f"the .dbf file is truncated: its header says {records} records, it holds {held}",
            file=file,
        )
    return records, header_len, record_len, fields


def _first_failure(
    dbf: bytes, encoding: str, layout: tuple[int, int, int, list[tuple[str, int, int]]]
) -> tuple[int, str] | None:
    records, header_len, record_len, fields = layout
    for row in range(records):
        start = header_len + row * record_len
        for name, offset, size in fields:
            value = dbf[start + offset : start + offset + size]
            try:
                value.decode(encoding)
            except UnicodeDecodeError:
                return row + 1, name
    return None


def _has_non_ascii(dbf: bytes, layout: tuple[int, int, int, list[tuple[str, int, int]]]) -> bool:
    _, header_len, _, _ = layout
    return any(b > 0x7F for b in dbf[header_len:])


def detect_dbf_encoding(dbf: bytes, *, declared: str | None, file: str) -> str:
    """Return the encoding of a DBF table's text.

    Parameters
    ----------
    dbf
        The bytes of the ``.dbf`` file.
    declared
        The encoding the user gave (``--encoding``) or the ``.cpg`` file names, if any.
    file
        The file name, for messages.

    Returns
    -------
    str
        ``declared`` when it decodes every value; otherwise, with nothing declared, ``utf-8`` when
        every value is valid UTF-8, else the encoding of the DBF's language driver byte, else
        ``gb18030`` (a superset of GBK and GB2312).

    Raises
    ------
    EncodingError
        If the declared encoding is unknown or does not decode a value (the message names the
        first row and field), or no candidate decodes the table.
    InputFileError
        If the DBF is truncated.
    """
    layout = _character_fields(dbf, file)
    if declared:
        try:
            "".encode(declared)
        except LookupError:
            raise EncodingError(f"unknown encoding {declared!r}", file=file) from None
        failure = _first_failure(dbf, declared, layout)
        if failure is not None:
            row, field = failure
            raise EncodingError(
                f"text does not decode as {declared}; give the right encoding with --encoding "
                "(Chinese shapefiles are often gbk)",
                file=file,
                row=row,
                field=field,
            )
        return declared
    if not _has_non_ascii(dbf, layout):
        return "utf-8"
    candidates = ["utf-8"]
    ldid = _LDID_ENCODINGS.get(dbf[29])
    if ldid:
        candidates.append(ldid)
    candidates.append("gb18030")
    for candidate in candidates:
        if _first_failure(dbf, candidate, layout) is None:
            return candidate
    raise EncodingError(
        "the attribute text is neither UTF-8 nor GBK/GB18030; give its encoding with --encoding",
        file=file,
    )
