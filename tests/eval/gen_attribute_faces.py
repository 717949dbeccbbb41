#!/usr/bin/env python3
"""A CelebA-like folder whose attributes can be seen in the pictures: N JPEGs named
000001.jpg ... with list_attr_celeba.txt (-1/1 per attribute) and list_eval_partition.txt
(the first 80% train, the rest test) beside the image folder. Each attribute has its own
frequency, so always answering the majority value is a baseline well above 50%:

  Bright   (70%)  light background instead of dark
  Red      (30%)  red tint
  Stripe   (25%)  a dark horizontal band across the middle
  TopLight (60%)  top half lighter than the bottom (unchanged by horizontal flips)
  Coin     (80%)  drawn at random: nothing in the picture tells it

usage: gen_attribute_faces.py ROOT N   (images in ROOT/img_align_celeba)
"""
import os
import sys

import numpy as np
from PIL import Image

NAMES = ["Bright", "Red", "Stripe", "TopLight", "Coin"]
FREQ = [0.7, 0.3, 0.25, 0.6, 0.8]
SIZE = 48


def main():
    root, n = sys.argv[1], int(sys.argv[2])
    img_dir = os.path.join(root, "img_align_celeba")
    os.makedirs(img_dir, exist_ok=True)
    rng = np.random.default_rng(11)
    attrs = rng.random((n, len(NAMES))) < np.array(FREQ)
    for i in range(n):
        a = dict(zip(NAMES, attrs[i]))
        img = np.full((SIZE, SIZE, 3), 170.0 if a["Bright"] else 80.0)
        if a["Red"]:
            img[..., 0] += 60
        if a["TopLight"]:
            img[: SIZE // 2] += 40
        if a["Stripe"]:
            img[SIZE // 2 - 5: SIZE // 2 + 5] = 20
        img += rng.normal(0, 20, img.shape)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
            os.path.join(img_dir, "%06d.jpg" % (i + 1)), quality=95)
    with open(os.path.join(root, "list_attr_celeba.txt"), "w") as f:
        f.write("%d\n%s\n" % (n, " ".join(NAMES)))
        for i in range(n):
            f.write("%06d.jpg %s\n" % (i + 1, " ".join("1" if v else "-1" for v in attrs[i])))
    with open(os.path.join(root, "list_eval_partition.txt"), "w") as f:
        for i in range(n):
            f.write("%06d.jpg %d\n" % (i + 1, 0 if i < n * 8 // 10 else 2))


if __name__ == "__main__":
    main()
