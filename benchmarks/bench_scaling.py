"""Two-process scaling benchmark: prints one JSON object (see minimal.bench.bench_scaling).

    python benchmarks/bench_scaling.py [--quick]
"""

import json
import sys

from minimal.env import limit_threads

limit_threads(1)

from minimal.bench import run  # noqa: E402

if __name__ == "__main__":
    print(json.dumps(run("scaling", quick="--quick" in sys.argv[1:])))
