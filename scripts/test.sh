#!/usr/bin/env bash
# make test: the whole suite against the real stack. Starts PostgreSQL
# databases, hatchet-lite and MinIO when they are not running (and stops
# what it started), then vets and runs every test with the race detector.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STACK=${PARLEY_STACK_DIR:-$ROOT/.stack}

started=()
for s in hatchet minio; do
	if ! { [ -f "$STACK/run/$s.pid" ] && kill -0 "$(cat "$STACK/run/$s.pid")" 2>/dev/null; }; then
		started+=("$s")
	fi
done
cleanup() {
	if [ ${#started[@]} -gt 0 ]; then
		echo "test: stopping the services this run started: ${started[*]}" >&2
		for s in "${started[@]}"; do
			if [ -f "$STACK/run/$s.pid" ]; then
				kill -TERM "$(cat "$STACK/run/$s.pid")" 2>/dev/null || true
			fi
		done
		for s in "${started[@]}"; do
			f=$STACK/run/$s.pid
			[ -f "$f" ] || continue
			pid=$(cat "$f")
			for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$pid" 2>/dev/null || true
			rm -f "$f"
		done
	fi
}
trap cleanup EXIT

scripts/stack.sh infra
# shellcheck disable=SC1091
. "$STACK/env"

t0=$SECONDS
echo "test: go vet ./..." >&2
go vet ./...
echo "test: node --test api/webtest/ (the web page's modules)" >&2
command -v node >/dev/null || { echo "test: node is needed for the web page's tests (apt-get install nodejs)" >&2; exit 1; }
node --test api/webtest/
echo "test: go test -race ./... ${GOTESTFLAGS:-}" >&2
# -p 2: the machine has 2 cores; heavier parallelism only queues.
# -count=1: the suite talks to real services; a cached result proves nothing.
go test -race -count=1 -p 2 -timeout 45m ${GOTESTFLAGS:-} ./...
echo "test: passed in $((SECONDS - t0)) s (after the stack was up)" >&2
