#!/usr/bin/env python3
"""Recomputes gan_eval's FD and KID with numpy from the features it dumped, by other means:
FD's cross term from the eigenvalues of the (non-symmetric) product C1 C2 instead of
symmetric square roots, KID's MMD^2 with numpy's own subsets.

usage: check_fd_kid.py DUMP_DIR RESULT_JSON exact|subsets
  exact:   KID's subsets were whole sets (m = n), so KID must equal the full unbiased MMD^2
  subsets: KID must agree with numpy's estimate within 4 combined standard errors
Exit 0 when both agree, 1 (with the numbers) when not.
"""
import json
import sys

import numpy as np


def fd(a, b):
    m1, m2 = a.mean(0), b.mean(0)
    c1, c2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # C1 C2 is similar to C1^1/2 C2 C1^1/2, which is PSD: real, non-negative eigenvalues
    # up to round-off.
    ev = np.linalg.eigvals(c1 @ c2)
    cross = np.sqrt(np.clip(ev.real, 0, None)).sum()
    return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * cross)


def mmd2(x, y):
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1) ** 3
    m, n = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2 * k(x, y).mean())


def main():
    dump, result, mode = sys.argv[1:4]
    fake = np.load(dump + "/fake.npy").astype(np.float64)
    real = np.load(dump + "/real.npy").astype(np.float64)
    r = json.load(open(result))
    ok = True
    assert fake.shape == (r["generated"], r["features"]["dim"]), fake.shape
    assert real.shape == (r["real"], r["features"]["dim"]), real.shape
    f = fd(fake, real)
    print("fd: gan_eval %.10g numpy %.10g" % (r["fd"], f))
    ok &= abs(f - r["fd"]) <= 1e-6 * max(1.0, abs(f))
    if mode == "exact":
        assert r["kid_subset_size"] == len(fake) == len(real), "exact mode needs m = n"
        k = mmd2(fake, real)
        print("kid: gan_eval %.10g numpy (whole sets) %.10g" % (r["kid"], k))
        ok &= abs(k - r["kid"]) <= 1e-9 * max(1.0, abs(k))
    else:
        rng = np.random.default_rng(7)
        m, s = r["kid_subset_size"], r["kid_subsets"]
        est = np.array([mmd2(fake[rng.choice(len(fake), m, replace=False)],
                             real[rng.choice(len(real), m, replace=False)]) for _ in range(s)])
        se = est.std(ddof=1) / np.sqrt(s)
        tol = 4 * np.hypot(se, r["kid_std_error"])
        print("kid: gan_eval %.6g +- %.3g numpy %.6g +- %.3g (tolerance %.3g)" %
              (r["kid"], r["kid_std_error"], est.mean(), se, tol))
        ok &= abs(est.mean() - r["kid"]) <= tol and r["kid_std_error"] > 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
