#!/usr/bin/env bash
# make bench: media work against the ffmpeg CLI doing the reference's steps
# (three 60-minute tracks, one 60-minute and one 4-hour track), fan-out
# scaling, orchestration overhead and resume cost on the real stack.
# Results: bench/results/*.json (summarised in bench/README.md). Generated
# inputs are cached in bench/work/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
scripts/stack.sh infra
# shellcheck disable=SC1091
. "${PARLEY_STACK_DIR:-$ROOT/.stack}/env"
# One at a time: the measurements must not compete for the two cores.
go test -tags bench -count=1 -p 1 -timeout 90m -v -run "${BENCH_RUN:-.}" ./bench/ 2>&1 | grep -E "^(=== RUN|--- |\s+\w+_test.go|ok|FAIL|PASS)" 
echo "bench: results in bench/results/" >&2
