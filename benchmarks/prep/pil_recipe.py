#!/usr/bin/python3
"""The straightforward Python recipe gan_prep replaces: PIL open -> RGB -> centre crop 128
-> resize 64 -> stack -> one h5py dataset. One round; prints the same CSV row format as
bench_prep. usage: pil_recipe.py DIR ROUND PASSES OUT.h5 [box|bilinear]"""
import os
import sys
import time

import h5py
import numpy as np
from PIL import Image


def main():
    d, rnd, passes, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    filt = {"box": Image.BOX, "bilinear": Image.BILINEAR}[sys.argv[5] if len(sys.argv) > 5 else "box"]
    files = sorted(f for f in os.listdir(d) if f.lower().endswith((".jpg", ".jpeg", ".png")))
    crop, size = 128, 64
    t0 = time.perf_counter()
    n = 0
    for _ in range(passes):
        imgs = []
        for f in files:
            im = Image.open(os.path.join(d, f)).convert("RGB")
            w, h = im.size
            x0, y0 = (w - crop) // 2, (h - crop) // 2
            im = im.crop((x0, y0, x0 + crop, y0 + crop)).resize((size, size), filt)
            imgs.append(np.asarray(im))
        with h5py.File(out, "w") as fh:
            fh.create_dataset("images", data=np.stack(imgs), chunks=(64, size, size, 3))
        n += len(files)
    secs = time.perf_counter() - t0
    print("%d,pil_h5py_%s,%d,%.6f,%.1f" % (rnd, sys.argv[5] if len(sys.argv) > 5 else "box", n, secs, n / secs))


if __name__ == "__main__":
    main()
