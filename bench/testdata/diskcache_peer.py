"""python-diskcache's memoize, the peer of BenchmarkFollowerHit and
BenchmarkFollowerMissStore (bench/follower_test.go runs this script).

    diskcache_peer.py fill DIR KEYS    store result(k) for k in 0..KEYS-1, through memoize
    diskcache_peer.py hit DIR KEYS     time memoize hits on those keys, in a shuffled order
    diskcache_peer.py miss DIR START   time memoize calls on new keys START, START+1, ...

hit and miss open the cache, print "ready", read the number of calls N
from a line of standard input, make the N calls, timing each one with
perf_counter_ns, and print "done" and the mean, p50, p99, p99.9 and max of
the calls in nanoseconds. The quantiles are taken as the benchmark's
percentile() takes them.
"""

import random
import sys
import time

import diskcache


def result(k):
    """The value of key k: BenchmarkFollowerHit's Result, as a dict."""
    return {"ID": k, "Score": k / 7, "Label": "result-%d" % k}


def percentile(lat, q):
    i = int(q * len(lat) + 0.5) - 1
    return lat[min(max(i, 0), len(lat) - 1)]


def timed(f, keys, n):
    """Calls f on n keys, cycling over keys, and returns each call's time."""
    lat = [0] * n
    now = time.perf_counter_ns
    m = len(keys)
    for i in range(n):
        k = keys[i % m]
        t0 = now()
        f(k)
        lat[i] = now() - t0
    return lat


def main():
    mode, directory, arg = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cache = diskcache.Cache(directory)

    @cache.memoize()
    def compute(k):
        return result(k)

    if mode == "fill":
        for k in range(arg):
            compute(k)
        cache.close()
        return

    if mode == "hit":
        keys = list(range(arg))
        random.Random(1).shuffle(keys)
        check = compute(keys[0])  # a hit: the fill process stored it
        if check != result(keys[0]):
            sys.exit("hit: got %r" % (check,))
    elif mode == "miss":
        keys = None
    else:
        sys.exit("unknown mode " + mode)

    print("ready", flush=True)
    n = int(sys.stdin.readline())
    if keys is None:
        keys = range(arg, arg + n)
    lat = timed(compute, keys, n)
    if mode == "miss" and len(cache) != n:
        sys.exit("miss: %d entries after %d calls on new keys" % (len(cache), n))
    cache.close()
    lat.sort()
    print("done", sum(lat) // n, percentile(lat, 0.5), percentile(lat, 0.99),
          percentile(lat, 0.999), lat[-1], flush=True)


if __name__ == "__main__":
    main()
