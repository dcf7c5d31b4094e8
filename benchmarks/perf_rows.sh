#!/usr/bin/env bash
# The performance rows of benchmarks/results/perf.md in one run: each row times reglab and its fastest peer in
# one process, interleaved (peers optional: pip install monai medpy surface-distance neurite voxelmorph).
#
#   bash benchmarks/perf_rows.sh                 # 2 threads, the python on PATH
#   THREADS=1 PYTHON=/path/to/python bash benchmarks/perf_rows.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
THREADS=${THREADS:-2}
export OMP_NUM_THREADS=$THREADS
run() { echo; echo "### $*"; "$PYTHON" "$@"; }
run benchmarks/bench_regularization.py --threads "$THREADS" --interleaved --only diffusion --repeat 31
run benchmarks/bench_warp.py --threads "$THREADS" --only integrate --sizes 256x256,96x112x96 --repeats 5 --rounds 4
run benchmarks/bench_evaluation.py --threads "$THREADS" --only binary --peers medpy --repeats 31
run benchmarks/bench_evaluation.py --threads "$THREADS" --only "Dice, 35" --peers NumPy --repeats 21
run benchmarks/bench_evaluation.py --threads "$THREADS" --only "HD95, 35" --peers surface --repeats 7
run benchmarks/bench_evaluation.py --threads "$THREADS" --only Jacobian --peers np.gradient --repeats 7
run benchmarks/bench_similarity.py --threads "$THREADS" --only mi/ --sizes 96x112x96
