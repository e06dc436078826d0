#!/usr/bin/env bash
# The long network runs behind the network-level figures, in order; each is resumable
# (re-running this script continues where it stopped). Run from figures/data.
set -u
cd "$(dirname "$0")/.."
for s in net-fig2-axes net-fig2-zipf net-coexist net-transition; do
  args=(sweep --file "sweeps/$s.toml" --out "$s" --workers "${WORKERS:-2}" --quiet)
  [ -e "$s/run.json" ] && args+=(--resume)
  minimal "${args[@]}" || echo "sweep $s ended with status $?"
done
