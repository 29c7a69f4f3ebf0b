"""One module per container format, each with `read(src, reading, file)`: finds the metadata
blocks of its format and hands them to the collector. Which module reads a file is decided
by its first bytes, in one table: `phototag.library.formats.SIGNATURES`.

exif: TIFF structures wherever they are embedded (and Photoshop resources); tiff: TIFF and
TIFF-based RAW; jpeg; png; webp (RIFF); gif; psd; isobmff: HEIC/HEIF/AVIF and CR3; jxl: the
JPEG XL container; raf: Fujifilm RAF.
"""
