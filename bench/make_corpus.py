#!/usr/bin/python3
"""Deterministic corpus for the walk/plan benchmark: a law-firm share.

Layout  ROOT/<client>/<matter>/<folder>/<name>.<ext>  (clients "c0001"..., matters by year),
a realistic extension mix, log-normal sizes (median ~60 KiB; files are sparse, so a
million of them costs inodes, not gigabytes), mtimes spread over the 12 years before
2026-01-01, about 0.5% symlinks and 0.5% hard links, a few `.matter-closed` markers.

The same (--files, --seed) always gives the same tree. Usage:
    bench/make_corpus.py --files 100000 --seed 1 ROOT
"""

import argparse
import math
import os
import random
import sys

EXTENSIONS = [  # (extension, weight): a document-heavy practice
    ("pdf", 30), ("docx", 22), ("msg", 14), ("eml", 8), ("xlsx", 7), ("jpg", 5),
    ("txt", 4), ("pptx", 3), ("tmp", 2), ("zip", 2), ("doc", 2), ("csv", 1),
]
FOLDERS = ["correspondence", "pleadings", "billing", "evidence", "drafts", "research",
           "court", "notes"]
END = 1767225600            # 2026-01-01T00:00:00Z
SPAN = 12 * 365 * 86400     # twelve years
FILES_PER_MATTER = 200      # on average
MATTERS_PER_CLIENT = 5


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("root")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    exts = [e for e, w in EXTENSIONS for _ in range(w)]
    os.makedirs(args.root, exist_ok=True)
    matters = max(1, args.files // FILES_PER_MATTER)
    made = 0
    links = symlinks = 0
    previous = None
    for m in range(matters):
        client = "c%04d" % (m // MATTERS_PER_CLIENT)
        year = 2014 + rng.randrange(12)
        matter = "%d-%03d" % (year, m % 1000)
        mdir = os.path.join(args.root, client, matter)
        # Spread the remaining files evenly over the remaining matters.
        count = (args.files - made) // (matters - m)
        dirs = {}
        for i in range(count):
            folder = rng.choice(FOLDERS)
            if folder not in dirs:
                d = os.path.join(mdir, folder)
                os.makedirs(d, exist_ok=True)
                dirs[folder] = d
            path = os.path.join(dirs[folder], "doc-%05d.%s" % (i, rng.choice(exts)))
            roll = rng.random()
            if roll < 0.005 and previous is not None:
                os.link(previous, path)  # a second name for an earlier file
                links += 1
            elif roll < 0.010 and previous is not None:
                os.symlink(previous, path)
                symlinks += 1
                continue  # a symlink is not a file for find -type f, fd --type f or lethe
            else:
                size = int(math.exp(rng.gauss(11.0, 1.6)))  # log-normal, median ~60 KiB
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.ftruncate(fd, min(size, 1 << 31))  # sparse: no data blocks
                os.close(fd)
                mtime = END - rng.randrange(SPAN)
                os.utime(path, (mtime, mtime))
                previous = path
            made += 1
        if rng.random() < 0.3:
            marker = os.path.join(mdir, ".matter-closed")
            open(marker, "w").close()
            made += 1
    print("corpus %s: %d files (%d hard links), %d symlinks, %d matters" %
          (args.root, made, links, symlinks, matters), file=sys.stderr)


if __name__ == "__main__":
    main()
