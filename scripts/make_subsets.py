"""Build the class-balanced subsets shipped in ipdrop/_data/ from the full datasets.

Usage: IPDROP_DATA=../shared/data python scripts/make_subsets.py
MNIST: 500 train + 100 test images per class; CIFAR-10: 200 train + 50 test per class (seed 0).
"""

import hashlib
import os
import sys

from ipdrop import data

SIZES = {"mnist": (500, 100), "cifar10": (200, 50)}


def main() -> int:
    if not os.environ.get(data.ENV_VAR):
        print(f"set {data.ENV_VAR} to the folder holding mnist.npz and cifar10.npz", file=sys.stderr)
        return 2
    for name, (n_tr, n_te) in SIZES.items():
        full = data.load(name, download=False)
        itr = data.balanced_subset(full.y_train, n_tr, seed=0)
        ite = data.balanced_subset(full.y_test, n_te, seed=0)
        arrays = dict(
            x_train=full.x_train[itr],
            y_train=full.y_train[itr].astype("uint8"),
            x_test=full.x_test[ite],
            y_test=full.y_test[ite].astype("uint8"),
            train_index=itr.astype("int32"),
            test_index=ite.astype("int32"),
        )
        path = data.embedded_path(name)
        data._atomic_savez(path, **arrays)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        print(f"{path}: train {len(itr)}, test {len(ite)}, {path.stat().st_size / 1e6:.2f} MB, sha256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
