#!/usr/bin/env python3
"""Generate lru_cache.json: call sequences replayed through CPython's
functools.lru_cache, with cache_info() after every call.

memo's tests replay the same sequences through a memory-only memo.Func and
require the same hits, misses and currsize at every step. Run from this
directory: python3 gen_lru_cache.py > lru_cache.json
"""
import functools
import json
import random
import sys

CLEAR = -1  # a step that calls cache_clear() instead of the function


def replay(maxsize, calls):
    @functools.lru_cache(maxsize=maxsize)
    def f(x):
        return x * 2

    steps = []
    for x in calls:
        if x == CLEAR:
            f.cache_clear()
        else:
            f(x)
        i = f.cache_info()
        steps.append([i.hits, i.misses, i.currsize])
    return steps


def fib_case(maxsize, n):
    @functools.lru_cache(maxsize=maxsize)
    def fib(k):
        return k if k < 2 else fib(k - 1) + fib(k - 2)

    value = fib(n)
    i = fib.cache_info()
    return {"maxsize": -1 if maxsize is None else maxsize, "n": n, "value": value,
            "hits": i.hits, "misses": i.misses, "currsize": i.currsize}


def main():
    rng = random.Random(20261122)
    cases = []
    for maxsize in [0, 1, 2, 3, 8, 32, 128, None]:
        for keyspace, length, clears in [(4, 60, False), (16, 300, False), (64, 400, True), (300, 500, False)]:
            calls = []
            for _ in range(length):
                if clears and rng.random() < 0.02:
                    calls.append(CLEAR)
                else:
                    # skewed: low keys are hot, as in real workloads
                    calls.append(min(int(rng.expovariate(4.0 / keyspace)), keyspace - 1))
            cases.append({
                "name": f"maxsize={maxsize}/keys={keyspace}/calls={length}",
                "maxsize": -1 if maxsize is None else maxsize,
                "calls": calls,
                "steps": replay(maxsize, calls),
            })
    fibs = [fib_case(m, n) for m, n in [(32, 30), (128, 30), (8, 20), (2, 15), (0, 12), (None, 40)]]
    json.dump({"python": sys.version.split()[0], "clear": CLEAR, "cases": cases, "fib": fibs},
              sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
