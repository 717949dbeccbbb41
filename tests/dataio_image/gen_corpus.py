#!/usr/bin/python3
"""Generates a CelebA-like corpus (178x218 RGB JPEG q95: smooth gradients, shapes, noise)
and, optionally, PIL reference outputs of crop + resize for the agreement test.

usage: gen_corpus.py OUT_DIR N [--refs CROP SIZE]
Run with Debian's /usr/bin/python3 (PIL + numpy)."""
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

W, H = 178, 218


def natural(rng):
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    img = np.zeros((H, W, 3), np.float32)
    for k in range(3):
        a, b, c = rng.uniform(-0.6, 0.6, 3)
        img[..., k] = 128 + a * (x - W / 2) + b * (y - H / 2) + 40 * np.sin(x / rng.uniform(15, 40) + c)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(pil)
    # A "face": a big ellipse near the centre, two eyes, a mouth; plus random shapes.
    cx, cy = W / 2 + rng.uniform(-10, 10), H / 2 + rng.uniform(-10, 15)
    face = tuple(int(v) for v in rng.integers(60, 230, 3))
    d.ellipse([cx - 45, cy - 60, cx + 45, cy + 60], fill=face)
    for ex in (-18, 18):
        d.ellipse([cx + ex - 7, cy - 20, cx + ex + 7, cy - 12], fill=(30, 30, 40))
    d.arc([cx - 20, cy + 10, cx + 20, cy + 35], 20, 160, fill=(120, 30, 40), width=3)
    for _ in range(5):
        x0, y0 = rng.integers(0, W - 10), rng.integers(0, H - 10)
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        d.rectangle([x0, y0, x0 + rng.integers(5, 40), y0 + rng.integers(5, 40)], fill=col)
    pil = pil.filter(ImageFilter.GaussianBlur(1.2))
    arr = np.asarray(pil).astype(np.float32) + rng.normal(0, 3.0, (H, W, 3))
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    refs = None
    if len(sys.argv) >= 6 and sys.argv[3] == "--refs":
        refs = (int(sys.argv[4]), int(sys.argv[5]))
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1234)
    filters = {"area": Image.BOX, "bilinear": Image.BILINEAR, "lanczos3": Image.LANCZOS}
    for i in range(n):
        name = "%06d.jpg" % (i + 1)
        path = os.path.join(out, name)
        natural(rng).save(path, quality=95)
        if refs:
            crop, size = refs
            # Reference from the decoded file, as PIL sees it (full-size decode).
            im = Image.open(path).convert("RGB")
            x0, y0 = (W - crop) // 2, (H - crop) // 2
            box = (x0, y0, x0 + crop, y0 + crop)
            for fname, f in filters.items():
                r = im.resize((size, size), f, box=box)
                with open(os.path.join(out, name + "." + fname + ".rgb"), "wb") as fh:
                    fh.write(r.tobytes())


if __name__ == "__main__":
    main()
