"""Single-thread sgemm peak: prints one JSON object (see minimal.bench.bench_sgemm).

    python benchmarks/bench_sgemm.py [--quick]
"""

import json
import sys

from minimal.env import limit_threads

limit_threads(1)

from minimal.bench import run  # noqa: E402

if __name__ == "__main__":
    print(json.dumps(run("sgemm", quick="--quick" in sys.argv[1:])))
