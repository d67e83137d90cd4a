#!/usr/bin/env bash
# Generates testdata/meeting/: a short three-person meeting as Daily-style
# raw tracks (one WebM/Opus file per participant, timestamps starting at the
# participant's join time), spoken by espeak-ng. Each track carries what it
# says in the PARLEY_SIM_TEXT tag ("|" between utterances) so that
# parley-sim can return sensible words; a real ASR hears the speech itself.
#   scripts/gen-testdata.sh [OUT_DIR]
set -euo pipefail
OUT=${1:-$(cd "$(dirname "$0")/.." && pwd)/testdata/meeting}
command -v espeak-ng >/dev/null || { echo "gen-testdata: espeak-ng is needed (apt-get install espeak-ng)" >&2; exit 1; }
mkdir -p "$OUT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# speaker|meeting time (s)|line
LINES=$(cat <<'TXT'
alice|1.0|Good morning everyone. Let's start with the budget for the mobile launch.
bob|6.5|Thanks Alice. The budget review shows we are ten percent over on design costs.
alice|12.5|Then let's cut the design budget and move the savings to marketing.
carol|18.0|I agree. The launch timeline is tight, so marketing needs the money early.
bob|23.5|I'll send the updated budget sheet to finance by Friday.
carol|29.0|Next topic is customer feedback from the beta release.
alice|34.0|Customers love the new onboarding, but the login flow is confusing.
carol|39.5|I will write a proposal for a simpler login flow before next week.
bob|45.0|We decided to ship the launch on the first of June with the simpler login.
alice|50.5|Great. Thanks everyone, see you on Friday.
TXT
)

declare -A VOICE=([alice]="en-us+f3" [bob]="en-us+m3" [carol]="en-gb+f4")
for who in alice bob carol; do
	mine=$(printf '%s\n' "$LINES" | awk -F'|' -v w="$who" '$1==w')
	first=$(printf '%s\n' "$mine" | head -1 | cut -d'|' -f2)
	offset=$(awk -v f="$first" 'BEGIN{printf "%.3f", f-0.6}')
	inputs=() filters="" n=0 text=""
	while IFS='|' read -r _ at line; do
		espeak-ng -v "${VOICE[$who]}" -s 165 -w "$TMP/$who-$n.wav" "$line"
		delay=$(awk -v a="$at" -v o="$offset" 'BEGIN{printf "%d", (a-o)*1000}')
		inputs+=(-i "$TMP/$who-$n.wav")
		filters+="[$n]aresample=48000,adelay=${delay}:all=1[a$n];"
		text+="$line | "
		n=$((n + 1))
	done <<<"$mine"
	mix=""
	for i in $(seq 0 $((n - 1))); do mix+="[a$i]"; done
	filters+="${mix}amix=inputs=$n:normalize=0:duration=longest,apad=pad_dur=1"
	ffmpeg -hide_banner -loglevel error -y "${inputs[@]}" -filter_complex "$filters" -ac 1 -c:a libopus -b:a 32k \
		-output_ts_offset "$offset" -metadata PARLEY_SIM_TEXT="${text% | }" "$OUT/$who.webm"
	echo "gen-testdata: $OUT/$who.webm (joins at ${offset}s)" >&2
done
