#!/usr/bin/env bash
# make bench-restart: the first meeting after `make up` must not wait in the
# queue (issue 16). Restarts YOUR local stack BENCH_LOOPS times (default 5):
# `make down`, `make up`, then `parley process testdata/meeting`, and
# compares each run with warm runs on the same stack.
#
# Goals: every first step starts within 3 s of the trigger, and every wall
# time is within 2 s of the warm median. Exits 1 when a goal is missed.
# Result: bench/results/restart.json.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STACK=${PARLEY_STACK_DIR:-$ROOT/.stack}
LOOPS=${BENCH_LOOPS:-5}
OUT=bench/results/restart.json
tracks=(testdata/meeting/*.webm)

now() { date +%s.%N; }

# run_once LABEL: processes the sample meeting with `parley process` (the
# command a user runs); prints "wall first_step_delay". The delay is from
# the transcript's first STATUS processing event (stored just before the
# trigger) to the start of the run's first step.
run_once() {
	# shellcheck disable=SC1091
	. "$STACK/env"
	local t0 t1 id out
	t0=$(now)
	out=$("$PARLEY_BIN_DIR/parley" process --name "restart bench $1" --json "${tracks[@]}" 2>/dev/null) ||
		{ echo "bench-restart: parley process failed" >&2; exit 1; }
	t1=$(now)
	id=$(grep -o '"id": *"[^"]*"' <<<"$out" | head -1 | sed 's/.*"\([^"]*\)"$/\1/')
	[ -n "$id" ] || { echo "bench-restart: parley process printed no transcript id" >&2; exit 1; }
	local delay
	delay=$(psql "$DATABASE_URL" -qtA -c "
		SELECT extract(epoch FROM (SELECT min(started_at) FROM steps WHERE transcript_id = '$id')
		     - (SELECT min(created_at) FROM events WHERE transcript_id = '$id' AND name = 'STATUS'
		          AND data->>'value' = 'processing'))")
	printf '%.3f %.3f\n' "$(echo "$t1 - $t0" | bc)" "$delay"
}

make --no-print-directory up >/dev/null
echo "bench-restart: warm runs" >&2
warm=()
for i in 1 2 3; do
	read -r w d < <(run_once "warm $i")
	echo "  warm $i: wall ${w} s, first step after ${d} s" >&2
	warm+=("$w")
done
warm_median=$(printf '%s\n' "${warm[@]}" | sort -n | sed -n 2p)

rows=() ok=1
for i in $(seq 1 "$LOOPS"); do
	make --no-print-directory down >/dev/null 2>&1
	t0=$(now)
	make --no-print-directory up >/dev/null 2>&1
	up=$(echo "$(now) - $t0" | bc)
	read -r w d < <(run_once "restart $i")
	met=yes
	if [ "$(echo "$d > 3 || $w - $warm_median > 2" | bc)" = 1 ]; then met=no ok=0; fi
	printf '  restart %d: make up %.1f s, wall %s s, first step after %s s (goal met: %s)\n' "$i" "$up" "$w" "$d" "$met" >&2
	rows+=("{\"loop\": $i, \"make_up_s\": $(printf %.1f "$up"), \"wall_s\": $w, \"first_step_after_s\": $d, \"met\": \"$met\"}")
done

mkdir -p bench/results
{
	printf '{\n  "bench": "restart",\n  "date": "%s",\n  "warm_wall_s": [%s],\n  "warm_median_s": %s,\n  "goal": "first step <= 3 s after trigger, wall <= warm median + 2 s",\n  "runs": [\n    ' \
		"$(date -u +%FT%TZ)" "$(IFS=,; echo "${warm[*]}")" "$warm_median"
	(IFS=$'\n'; echo "${rows[*]}") | sed '$!s/$/,/' | sed '2,$s/^/    /'
	printf '  ]\n}\n'
} >"$OUT"
echo "bench-restart: warm median ${warm_median} s; results in $OUT" >&2
[ "$ok" = 1 ] || { echo "bench-restart: goal missed" >&2; exit 1; }
