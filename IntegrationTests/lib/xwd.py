"""Screenshots of an Xvfb screen without ImageMagick: Xvfb -fbdir DIR keeps the screen as an
XWD file (DIR/Xvfb_screen0); `xwd_to_png` writes it as a PNG (truecolor, 24 or 32 bits per
pixel, the depth Xvfb uses for -screen 0 WxHx24)."""

import struct
import zlib

FIELDS = ("header_size file_version pixmap_format pixmap_depth width height xoffset byte_order "
          "bitmap_unit bitmap_bit_order bitmap_pad bits_per_pixel bytes_per_line visual_class "
          "red_mask green_mask blue_mask bits_per_rgb colormap_entries ncolors").split()


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def xwd_to_png(xwd_path, png_path):
    with open(xwd_path, "rb") as f:
        data = f.read()
    h = dict(zip(FIELDS, struct.unpack(">%dI" % len(FIELDS), data[:4 * len(FIELDS)])))
    if h["bits_per_pixel"] not in (24, 32) or h["visual_class"] != 4:
        raise ValueError("not a truecolor XWD screen: %r" % h)
    start = h["header_size"] + 12 * h["ncolors"]
    width, height, stride, step = h["width"], h["height"], h["bytes_per_line"], h["bits_per_pixel"] // 8
    masks = [h["red_mask"], h["green_mask"], h["blue_mask"]]
    shifts = [(m & -m).bit_length() - 1 for m in masks]
    order = "<" if h["byte_order"] == 0 else ">"
    rows = bytearray()
    for y in range(height):
        line = data[start + y * stride:start + y * stride + width * step]
        rows.append(0)
        for x in range(width):
            px = line[x * step:(x + 1) * step]
            value = int.from_bytes(px, "little" if order == "<" else "big")
            rows += bytes(((value & m) >> s) & 0xFF for m, s in zip(masks, shifts))
    png = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + _chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + _chunk(b"IEND", b""))
    with open(png_path, "wb") as f:
        f.write(png)
    return png_path
