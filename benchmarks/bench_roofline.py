"""Roofline benchmark: the phases of a training step against the sgemm peak (one JSON
object, see minimal.bench.bench_roofline).

    python benchmarks/bench_roofline.py [--quick]
"""

import json
import sys

from minimal.env import limit_threads

limit_threads(1)

from minimal.bench import run  # noqa: E402

if __name__ == "__main__":
    print(json.dumps(run("roofline", quick="--quick" in sys.argv[1:])))
