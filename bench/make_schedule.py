#!/usr/bin/env python3
"""Writes one large, valid retention schedule for bench/schedule_load.sh.

    bench/make_schedule.py --categories 10000 OUT.toml
    bench/make_schedule.py --bytes 10000000 OUT.toml

Each category looks like one a firm writes per client or practice area: an id, a
description and mandate, two path patterns under its own folder, extensions, a retention,
a cutoff and an action. Every category matches its own folders only, so none shadows
another and `lethe policy check --strict` passes. Deterministic: the same arguments give
the same bytes.
"""

import argparse
import sys

ACTIONS = ["sanitize", "delete", "review", "archive"]
RETAINS = ["6y", "7y", "10y", "18m", "2y6m", "30d", "permanent"]
CUTOFFS = ["none", "year-end", "fiscal-year-end:03-31"]
EXTENSIONS = ['"pdf"', '"docx"', '"msg"', '"eml"', '"xlsx"']


def category(i):
    action = ACTIONS[i % len(ACTIONS)]
    lines = [
        "[[category]]",
        f'id = "client-{i:06d}-matters"',
        f'description = "Matter files of client {i:06d}: pleadings, correspondence, '
        f'work product and the bills that go with them"',
        f'mandate = "Limitation Act 1980 s.5 and the engagement letter of client {i:06d}"',
        f'paths = ["clients/c{i:06d}/{{matter}}/**", "archive/c{i:06d}/**/*.pdf"]',
        f"extensions = [{', '.join(EXTENSIONS[: 2 + i % 4])}]",
        f'retain = "{RETAINS[i % len(RETAINS)]}"',
        f'cutoff = "{CUTOFFS[i % len(CUTOFFS)]}"',
        f'action = "{action}"',
    ]
    if action == "review":
        lines.append('review_action = "sanitize"')
    return "\n".join(lines) + "\n\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--categories", type=int, help="this many categories")
    size.add_argument("--bytes", type=int, help="categories until the file has this many bytes")
    parser.add_argument("out", help="the schedule file to write")
    args = parser.parse_args()

    header = (
        "[schedule]\n"
        f'id = "bench-{args.categories or args.bytes}"\n'
        "version = 1\n"
        'approved_by = "Records Committee"\n'
        'mode = "observe"\n\n'
    )
    parts = [header]
    written = len(header)
    i = 0
    while (args.categories is not None and i < args.categories) or (
        args.bytes is not None and written < args.bytes
    ):
        text = category(i)
        parts.append(text)
        written += len(text)
        i += 1
    with open(args.out, "w", encoding="utf-8") as out:
        out.write("".join(parts))
    print(f"{args.out}: {i} categories, {written} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
