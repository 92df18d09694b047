#!/usr/bin/env python3
"""Times anonlink's accelerated Dice coefficient (its C++ popcount kernel, one
core) on random 1024-bit encodings, the way anonlink's own benchmark does:
every pair of two sets is compared against a threshold high enough that
almost nothing is kept, so the time is the comparisons.

    python anonlink_time.py [N1 N2 ROUNDS]     (default 1000 10000 5)
"""

import os
import sys
from timeit import default_timer as timer

import bitarray
from anonlink.similarities import dice_coefficient_accelerated


def encodings(count, length=1024):
    out = []
    for _ in range(count):
        a = bitarray.bitarray()
        a.frombytes(os.urandom(length // 8))
        out.append(a)
    return out


def main():
    n1, n2, rounds = (int(x) for x in (sys.argv[1:4] if len(sys.argv) > 3 else (1000, 10000, 5)))
    left, right = encodings(n1), encodings(n2)
    best = 0.0
    for _ in range(rounds):
        start = timer()
        dice_coefficient_accelerated((left, right), 0.99)
        elapsed = timer() - start
        best = max(best, n1 * n2 / elapsed)
    print(f"anonlink dice_coefficient_accelerated, 1 core: {n1}x{n2} pairs, "
          f"best of {rounds}: {best / 1e6:.1f} million comparisons/s")


if __name__ == "__main__":
    main()
