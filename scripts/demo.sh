#!/usr/bin/env bash
# make demo: start the stack, process the bundled sample meeting
# (testdata/meeting: three participants who joined at different times) and
# print the transcript, title and summary.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
scripts/stack.sh up
# shellcheck disable=SC1091
. "${PARLEY_STACK_DIR:-$ROOT/.stack}/env"
if [ -n "${PARLEY_SIM_URL:-}" ]; then
	echo "demo: using parley-sim (no ASR/LLM provider configured): words come from the tracks' text tags, summaries are simulated." >&2
fi
tracks=(testdata/meeting/*.webm)
echo "demo: processing ${#tracks[@]} tracks: ${tracks[*]}" >&2
"$PARLEY_BIN_DIR/parley" process --name "Mobile launch planning (demo)" "${tracks[@]}" | tee "${PARLEY_STACK_DIR:-$ROOT/.stack}/demo-output.txt"
id=$(awk '/^Transcript: /{print $2; exit}' "${PARLEY_STACK_DIR:-$ROOT/.stack}/demo-output.txt")
echo >&2
echo "demo: open $PARLEY_API_URL/transcripts/$id to see it (live progress, waveform, topics);" >&2
echo "demo: the run is in the Hatchet dashboard at $HATCHET_CLIENT_SERVER_URL. Stop everything with: make down" >&2
