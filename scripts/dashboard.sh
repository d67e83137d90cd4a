#!/usr/bin/env bash
# make dashboard: build the Hatchet dashboard (frontend/app of the pinned
# hatchet module) and restart hatchet-lite serving it. Optional: without it
# hatchet-lite serves its API only. Needs Node.js and the npm registry.
# Two fixes make the module's frontend build outside Hatchet's monorepo:
# better-emitter ^4.0.1 is not published (3.0.0 has the same API), and
# src/lib/generated/docs is generated from docs that the module lacks (a
# stub exporting docsPages is enough).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${PARLEY_CACHE_DIR:-$HOME/.cache/parley}
VERSION=v0.85.0
OUT=$CACHE/hatchet-dashboard-$VERSION
if [ ! -f "$OUT/dist/index.html" ]; then
	command -v node >/dev/null || { echo "dashboard: Node.js is needed" >&2; exit 1; }
	MOD=$(cd "$ROOT/tools/hatchet" && go mod download -json github.com/hatchet-dev/hatchet@$VERSION | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
	BUILD=$(mktemp -d "$CACHE/.dashboard.XXXXXX")
	trap 'rm -rf "$BUILD"' EXIT
	cp -r "$MOD/frontend/app/." "$BUILD/"
	chmod -R u+w "$BUILD"
	cd "$BUILD"
	sed -i 's/"better-emitter": "[^"]*"/"better-emitter": "3.0.0"/' package.json
	mkdir -p src/lib/generated/docs
	[ -e src/lib/generated/docs/index.ts ] || echo 'export const docsPages: Record<string, unknown> = {};' >src/lib/generated/docs/index.ts
	echo "dashboard: installing the frontend's packages (a few minutes)" >&2
	COREPACK_INTEGRITY_KEYS=0 npx --yes corepack pnpm@10.16.1 install --no-frozen-lockfile >"$CACHE/dashboard-install.log" 2>&1 ||
		{ tail -20 "$CACHE/dashboard-install.log" >&2; exit 1; }
	echo "dashboard: building" >&2
	npx vite build >"$CACHE/dashboard-build.log" 2>&1 || { tail -20 "$CACHE/dashboard-build.log" >&2; exit 1; }
	mkdir -p "$OUT"
	rm -rf "$OUT/dist"
	mv dist "$OUT/dist"
fi
"$ROOT/scripts/stack.sh" restart hatchet
echo "dashboard: http://localhost:${HATCHET_DASHBOARD_PORT:-8888} (admin@example.com / Admin123!!)" >&2
