#!/usr/bin/env python3
"""Writes the small image fixtures of ImageTests.swift into `images/`; run once, the outputs are committed.

Needs Pillow (`pip install pillow`; the expectations were made with Pillow 13.0.0 / libjpeg-turbo 3.2.0) and,
for the sampling layouts and modes Pillow cannot write (4:4:0, 4:1:1, separate scans per component,
16-bit quantization tables, arithmetic coding), libjpeg-turbo's `cjpeg` (Debian: libjpeg-turbo-progs).

For every JPEG `<name>.jpg` that EdgeQ must decode, `<name>.rgb` holds Pillow's decoded pixels
(`Image.open(path).convert("RGB").tobytes()`: HWC, 3 bytes a pixel). The resize expectations come from
`Image.resize(size, Image.BILINEAR)` on the pseudo-random image `noise_image`, which the Swift test
regenerates; large results are stored as 64-bit FNV-1a hashes in `resize_expectations.txt`.
"""
import os
import random
import subprocess
import sys

from PIL import Image, ImageDraw, ImageFilter

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")


def path(name):
    return os.path.join(HERE, name)


def photo_like(width, height, seed):
    """Smooth gradients, soft shapes, hard edges and some noise: exercises every DCT frequency."""
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height))
    pixels = image.load()
    for y in range(height):
        for x in range(width):
            pixels[x, y] = (
                (x * 255) // max(width - 1, 1),
                (y * 255) // max(height - 1, 1),
                ((x + y) * 127) // max(width + height - 2, 1) + rng.randrange(0, 64),
            )
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = rng.randrange(-10, width), rng.randrange(-10, height)
        x1, y1 = x0 + rng.randrange(3, width // 2 + 4), y0 + rng.randrange(3, height // 2 + 4)
        fill = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=fill)
    return image.filter(ImageFilter.SMOOTH)


def save_expected(name):
    """Pillow's decoding of `<name>.jpg` (or any image) as `<name>.rgb`."""
    source = next(path(name + ext) for ext in (".jpg", ".ppm", ".pgm") if os.path.exists(path(name + ext)))
    with Image.open(source) as image:
        data = image.convert("RGB").tobytes()
    with open(path(name + ".rgb"), "wb") as f:
        f.write(data)


def pillow_jpeg(name, image, **options):
    image.save(path(name + ".jpg"), "JPEG", **options)


def cjpeg(name, image, *arguments):
    ppm = path(name + ".source.ppm")
    image.save(ppm)
    try:
        subprocess.run(["cjpeg", *arguments, "-outfile", path(name + ".jpg"), ppm], check=True)
    finally:
        os.remove(ppm)


def noise_image(width, height, seed):
    """Pseudo-random RGB bytes from a 31-bit LCG; ImageTests.swift has the same generator."""
    state = seed
    data = bytearray()
    for _ in range(width * height * 3):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        data.append((state >> 16) & 0xFF)
    return Image.frombytes("RGB", (width, height), bytes(data))


def fnv1a64(data):
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def torchvision_resize(image, shorter):
    width, height = image.size
    if width <= height:
        size = (shorter, int(shorter * height / width))
    else:
        size = (int(shorter * width / height), shorter)
    return image.resize(size, Image.BILINEAR)


def center_crop(image, size):
    width, height = image.size
    left, top = round((width - size) / 2), round((height - size) / 2)
    return image.crop((left, top, left + size, top + size))


def main():
    os.makedirs(HERE, exist_ok=True)
    odd = photo_like(37, 23, 1)
    # Decodable JPEGs written by Pillow (libjpeg-turbo): the common layouts, odd sizes, tiny planes.
    pillow_jpeg("q444_37x23", odd, quality=90, subsampling=0)
    pillow_jpeg("q422_37x23", odd, quality=90, subsampling=1)
    pillow_jpeg("q420_37x23", odd, quality=90, subsampling=2)
    pillow_jpeg("q420_4x3", photo_like(4, 3, 2), quality=75, subsampling=2)
    pillow_jpeg("q422_3x5", photo_like(3, 5, 3), quality=75, subsampling=1)
    pillow_jpeg("q444_1x1", photo_like(1, 1, 4), quality=95, subsampling=0)
    pillow_jpeg("gray_37x23", odd.convert("L"), quality=90)
    pillow_jpeg("q420_restart_61x45", photo_like(61, 45, 5), quality=85, subsampling=2,
                restart_marker_blocks=2, optimize=True)
    pillow_jpeg("rgb_adobe_33x17", photo_like(33, 17, 6), quality=90, keep_rgb=True)
    pillow_jpeg("q420_80x60", photo_like(80, 60, 7), quality=80, subsampling=2)
    # Written by cjpeg: layouts and modes Pillow cannot produce.
    cjpeg("s440_37x23", odd, "-quality", "90", "-sample", "1x2")
    cjpeg("s411_37x23", odd, "-quality", "90", "-sample", "4x1")
    with open(path("separate_scans.txt"), "w") as f:
        f.write("0;\n1;\n2;\n")
    try:
        cjpeg("q420_scans_37x23", odd, "-quality", "90", "-sample", "2x2", "-scans", path("separate_scans.txt"))
    finally:
        os.remove(path("separate_scans.txt"))
    cjpeg("q444_16bit_quant_37x23", odd, "-quality", "3", "-sample", "1x1")  # tables above 255: SOF1
    decodable = ["q444_37x23", "q422_37x23", "q420_37x23", "q420_4x3", "q422_3x5", "q444_1x1", "gray_37x23",
                 "q420_restart_61x45", "rgb_adobe_33x17", "q420_80x60", "s440_37x23", "s411_37x23",
                 "q420_scans_37x23", "q444_16bit_quant_37x23"]
    # Rejected modes.
    pillow_jpeg("progressive_37x23", odd, quality=90, progressive=True)
    cjpeg("arithmetic_37x23", odd, "-quality", "90", "-arithmetic")

    # Netpbm with a maxval below 255 and a grayscale one with comments.
    with open(path("maxval100_5x3.ppm"), "wb") as f:
        f.write(b"P6\n# maxval below 255 is rescaled\n5 3\n100\n")
        f.write(bytes((i * 7) % 101 for i in range(5 * 3 * 3)))
    with open(path("gray_7x4.pgm"), "wb") as f:
        f.write(b"P5 7 # width\n4 # height\n255\n" + bytes((i * 37) % 256 for i in range(7 * 4)))
    decodable += ["maxval100_5x3", "gray_7x4"]

    for name in decodable:
        save_expected(name)

    # Resize expectations: small ones in full, the ImageNet-sized ones as hashes.
    small_resizes = [
        ("resize_45x31_to_13", noise_image(45, 31, 11), 13),  # shrink, 18x13
        ("resize_20x14_to_33", noise_image(20, 14, 12), 33),  # enlarge, 47x33
        ("resize_20x50_to_13", noise_image(20, 50, 16), 13),  # tall shrink, 13x32: vertical pass first
    ]
    for name, image, shorter in small_resizes:
        with open(path(name + ".rgb"), "wb") as f:
            f.write(torchvision_resize(image, shorter).tobytes())
    # Pillow filters vertically first when the image loses rows and 2 * (width gain) > (height gain).
    with open(path("resize_40x30_to_57x17.rgb"), "wb") as f:  # wider and shorter: vertical first
        f.write(noise_image(40, 30, 13).resize((57, 17), Image.BILINEAR).tobytes())
    with open(path("resize_40x30_to_35x20.rgb"), "wb") as f:  # on the boundary: horizontal first
        f.write(noise_image(40, 30, 17).resize((35, 20), Image.BILINEAR).tobytes())
    lines = []
    for width, height, seed in [(300, 200, 14), (500, 375, 15)]:
        resized = torchvision_resize(noise_image(width, height, seed), 256)
        cropped = center_crop(resized, 224)
        lines.append(f"noise {width}x{height} seed {seed}: resize {resized.size[0]}x{resized.size[1]} "
                     f"{fnv1a64(resized.tobytes()):016x} crop224 {fnv1a64(cropped.tobytes()):016x}")
    with open(path("resize_expectations.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
