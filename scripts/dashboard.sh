#!/usr/bin/env bash
# The Hatchet dashboard of the pinned engine version, built from the
# module's frontend/app and served by hatchet-lite.
#
#   scripts/dashboard.sh        build it (once; cached) and restart hatchet-lite
#                               when it serves something else (make dashboard)
#   scripts/dashboard.sh build  build it only
#   scripts/dashboard.sh lock   regenerate tools/dashboard/{package.json,pnpm-lock.yaml}
#                               after the pinned Hatchet version changed
#
# scripts/stack.sh sources this file: `make up` and `make test` build the
# dashboard when hatchet-lite starts. The version is the one of the engine
# binaries (go.mod, see dashboard_version); the build lands in
# $HOME/.cache/parley/hatchet-dashboard-<version>/dist. Without Node.js,
# python3 or the npm registry it says so in one line and hatchet-lite serves
# an "API only" page instead.
#
# The build follows Hatchet's own (build/package/frontend.dockerfile and the
# app's docs:gen script), with these differences:
#   - the docs index src/lib/generated/docs is generated from the module's
#     frontend/docs by Hatchet's frontend/snippets/generate.py (only its
#     docs part: the code snippets are for the docs site, not the app);
#   - packages come from tools/dashboard/pnpm-lock.yaml: Hatchet's lockfile
#     with better-emitter 3.0.0 instead of 4.0.1 (not served here) and
#     without the linters, test runners and type checker (see
#     tools/dashboard/dashboard.mjs), installed by the pnpm Hatchet names
#     (fetched as a tarball and checked against the sha512 that
#     tools/dashboard/package.json pins: no npm needed, nor corepack, whose
#     signature check fails here); install scripts are not run; pnpm's
#     package store is kept in the cache (about 0.6 GB): removing the
#     node_modules of the build then only unlinks hard links, which is
#     seconds instead of most of a minute on a disk mounted with discard;
#   - only `vite build`, no `tsc`, no source maps, no Sentry upload
#     (tools/dashboard/vite.config.parley.ts).

DASHBOARD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DASHBOARD_TOOLS=$DASHBOARD_ROOT/tools/dashboard

# dashboard_version: the Hatchet version of the engine binaries: stack.sh's
# HATCHET_VERSION when it sourced this file, else read from go.mod the way
# it does.
dashboard_version() {
	if declare -F hatchet_pin >/dev/null; then
		echo "$HATCHET_VERSION"
	else
		awk '{for (i = 1; i < NF; i++) if ($i == "github.com/hatchet-dev/hatchet") {print $(i + 1); exit}}' "$DASHBOARD_ROOT/go.mod"
	fi
}

dashboard_cache() { echo "${PARLEY_CACHE_DIR:-$HOME/.cache/parley}"; }

# dashboard_dist: where the built dashboard of the pinned version lives.
dashboard_dist() { echo "$(dashboard_cache)/hatchet-dashboard-$(dashboard_version)/dist"; }

dashboard_say() { printf '\033[1mdashboard:\033[0m %s\n' "$*" >&2; }

# dashboard_registry: the npm registry (npm's setting when npm is there;
# pnpm reads the same .npmrc).
dashboard_registry() {
	local r=${npm_config_registry:-}
	if [ -z "$r" ] && command -v npm >/dev/null; then r=$(npm config get registry 2>/dev/null); fi
	r=${r:-https://registry.npmjs.org/}
	echo "${r%/}"
}

# dashboard_unavailable: why the dashboard cannot be built here (empty when
# it can). Checks the tools and whether the npm registry answers.
dashboard_unavailable() {
	command -v node >/dev/null || { echo "Node.js is not installed"; return; }
	node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' ||
		{ echo "Node.js $(node --version) is too old (18 or newer is needed)"; return; }
	python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null ||
		{ echo "python3 3.10 or newer is needed to generate the docs index"; return; }
	local registry
	registry=$(dashboard_registry)
	curl -fsS -o /dev/null --max-time 10 "$registry/pnpm/$(dashboard_pnpm_version "$DASHBOARD_TOOLS/package.json")" 2>/dev/null ||
		{ echo "the npm registry $registry cannot be reached"; return; }
}

# dashboard_pnpm_version PACKAGE.JSON: the pnpm version it names
# (packageManager: pnpm@VERSION[+sha512.HEX]).
dashboard_pnpm_version() {
	node -p 'require(require("path").resolve(process.argv[1])).packageManager.replace(/^pnpm@/, "").split("+")[0]' "$1"
}

# dashboard_registry_sha512 VERSION: the sha512 (hex) the registry
# publishes for pnpm's tarball.
dashboard_registry_sha512() {
	curl -fsS --max-time 30 "$(dashboard_registry)/pnpm/$1" |
		node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () =>
			console.log(Buffer.from(JSON.parse(s).dist.integrity.replace(/^sha512-/, ""), "base64").toString("hex")))'
}

# dashboard_pnpm ARGS...: runs the pnpm that package.json (in the current
# directory) names. pnpm is one package without dependencies: it comes as
# the registry's tarball, checked against the sha512 that package.json pins
# (or, when it pins none, the registry's own), cached. Node.js is all it
# needs: no npm.
dashboard_pnpm() {
	local v want dir
	# (Called where `set -e` may not hold: every step checks.)
	v=$(dashboard_pnpm_version package.json) || return 1
	want=$(node -p '(require(process.cwd() + "/package.json").packageManager.match(/\+sha512\.([0-9a-f]+)$/) || [])[1] || ""') || return 1
	dir=$(dashboard_cache)/pnpm-$v
	if [ ! -f "$dir/package/bin/pnpm.cjs" ]; then
		local registry tmp got
		registry=$(dashboard_registry)
		mkdir -p "$(dashboard_cache)" || return 1
		tmp=$(mktemp -d "$(dashboard_cache)/.pnpm.XXXXXX") || return 1
		if ! curl -fsS --max-time 300 -o "$tmp/pnpm.tgz" "$registry/pnpm/-/pnpm-$v.tgz"; then
			rm -rf "$tmp"
			echo "dashboard: could not download pnpm $v from $registry" >&2
			return 1
		fi
		[ -n "$want" ] || want=$(dashboard_registry_sha512 "$v")
		got=$(sha512sum "$tmp/pnpm.tgz" | cut -d' ' -f1)
		if [ -z "$want" ] || [ "$got" != "$want" ]; then
			rm -rf "$tmp"
			echo "dashboard: pnpm-$v.tgz from $registry does not have the expected sha512" >&2
			return 1
		fi
		tar -xzf "$tmp/pnpm.tgz" -C "$tmp" || { rm -rf "$tmp"; return 1; }
		rm -f "$tmp/pnpm.tgz"
		rm -rf "$dir"
		mv "$tmp" "$dir" || return 1
	fi
	node "$dir/package/bin/pnpm.cjs" "$@"
}

# dashboard_module: the directory of the pinned hatchet module (downloaded
# into the Go module cache when needed).
dashboard_module() {
	local version empty
	version=$(dashboard_version)
	# Outside any module, so that no go.sum changes.
	empty=$(mktemp -d)
	(cd "$empty" && GOWORK=off GOFLAGS= go mod download -json "github.com/hatchet-dev/hatchet@$version") |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p'
	rmdir "$empty"
}

# dashboard_build: builds the dashboard unless it is cached. Returns 1
# (after one line saying why, kept in DASHBOARD_UNAVAILABLE) when it cannot
# be built on this machine; exits when the build itself fails.
dashboard_build() {
	local version
	version=$(dashboard_version)
	DASHBOARD_UNAVAILABLE=
	[ -f "$(dashboard_dist)/index.html" ] && return 0
	DASHBOARD_UNAVAILABLE=$(dashboard_unavailable)
	if [ -n "$DASHBOARD_UNAVAILABLE" ]; then
		dashboard_say "not built: $DASHBOARD_UNAVAILABLE; hatchet-lite serves its API only"
		return 1
	fi
	local locked
	locked=$(node -p 'require(process.argv[1]).version' "$DASHBOARD_TOOLS/package.json")
	if [ "v$locked" != "$version" ]; then
		dashboard_say "tools/dashboard/pnpm-lock.yaml is for Hatchet v$locked, the engine is $version: run scripts/dashboard.sh lock"
		exit 1
	fi
	# A process of its own, so that `set -e` holds whatever the caller's
	# context (a function called in a condition ignores it).
	local rc=0
	"$DASHBOARD_ROOT/scripts/dashboard.sh" build-now || rc=$?
	case $rc in
	0) ;;
	3)
		DASHBOARD_UNAVAILABLE="the npm registry did not serve every package"
		return 1
		;;
	*) exit "$rc" ;;
	esac
}

# dashboard_build_now: the build itself (scripts/dashboard.sh build-now).
# Exit status 3: the npm registry did not serve the packages.
dashboard_build_now() {
	local version dist cache
	version=$(dashboard_version)
	dist=$(dashboard_dist)
	cache=$(dashboard_cache)
	mkdir -p "$cache"
	# One build at a time (several worktrees share the cache).
	exec 8>"$cache/.dashboard.lock"
	flock 8
	[ -f "$dist/index.html" ] && return 0
	local log=$cache/dashboard-build.log t0=$SECONDS
	build=$(mktemp -d "$cache/.dashboard.XXXXXX")
	trap 'rm -rf "$build"' EXIT
	dashboard_say "building the Hatchet $version dashboard (first run only; about a minute)"
	local mod
	mod=$(dashboard_module)
	[ -d "$mod/frontend/app" ] || { dashboard_say "hatchet@$version has no frontend/app"; exit 1; }
	mkdir -p "$build/frontend/docs/content"
	cp -r "$mod/frontend/app" "$mod/frontend/snippets" "$build/frontend/"
	cp -r "$mod/frontend/docs/content/docs" "$build/frontend/docs/content/"
	chmod -R u+w "$build"
	cp "$DASHBOARD_TOOLS/package.json" "$DASHBOARD_TOOLS/pnpm-lock.yaml" "$DASHBOARD_TOOLS/vite.config.parley.ts" "$build/frontend/app/"
	echo "== docs index" >"$log"
	if ! { (cd "$build/frontend/snippets" && python3 -c 'import generate; generate.write_doc_index_to_app()') &&
		node "$DASHBOARD_TOOLS/dashboard.mjs" check-docs "$build/frontend/app"; } >>"$log" 2>&1; then
		tail -20 "$log" >&2
		dashboard_say "generating the docs index failed (log: $log)"
		exit 1
	fi
	echo "== install" >>"$log"
	if ! (cd "$build/frontend/app" && dashboard_pnpm install --frozen-lockfile --ignore-scripts \
		--store-dir "$cache/pnpm-store" --reporter=append-only) >>"$log" 2>&1; then
		if grep -q 'ERR_PNPM_OUTDATED_LOCKFILE\|ERR_PNPM_LOCKFILE' "$log"; then
			tail -20 "$log" >&2
			dashboard_say "tools/dashboard/pnpm-lock.yaml does not match: run scripts/dashboard.sh lock"
			exit 1
		fi
		dashboard_say "not built: the npm registry did not serve every package (log: $log); hatchet-lite serves its API only"
		exit 3
	fi
	local t1=$SECONDS
	echo "== build" >>"$log"
	if ! (cd "$build/frontend/app" && node_modules/.bin/vite build --config vite.config.parley.ts --logLevel warn) >>"$log" 2>&1; then
		tail -30 "$log" >&2
		dashboard_say "vite build failed (log: $log)"
		exit 1
	fi
	rm -rf "$dist.tmp" "$dist"
	mkdir -p "$(dirname "$dist")"
	mv "$build/frontend/app/dist" "$dist.tmp"
	mv "$dist.tmp" "$dist"
	dashboard_say "built in $((SECONDS - t0)) s (packages $((t1 - t0)) s, vite build $((SECONDS - t1)) s): $dist"
}

# dashboard_static_dir STACKDIR: builds the dashboard when it can and
# prints the directory hatchet-lite should serve: the dashboard, or a page
# saying that it is not there and why.
dashboard_static_dir() {
	if dashboard_build; then
		dashboard_dist
		return
	fi
	mkdir -p "$1/hatchet/static"
	cat >"$1/hatchet/static/index.html" <<-HTML
		<!doctype html><title>Hatchet (API only)</title>
		<meta name="parley-dashboard" content="unavailable: $DASHBOARD_UNAVAILABLE">
		<p>This hatchet-lite serves its API only: the dashboard could not be built
		($DASHBOARD_UNAVAILABLE). Run <code>make dashboard</code> once that is fixed.</p>
	HTML
	echo "$1/hatchet/static"
}

# dashboard_served: the directory the running hatchet-lite serves (its
# LITE_STATIC_ASSET_DIR); empty when none runs.
dashboard_served() {
	local pid
	pid=$(cat "$RUN/hatchet.pid" 2>/dev/null) || return 0
	tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | sed -n 's/^LITE_STATIC_ASSET_DIR=//p'
}

# The hooks of scripts/stack.sh (which defines STACK, RUN, say, pid_alive
# and stop_one).

# dashboard_prepare: right before hatchet-lite starts: what it serves
# (HATCHET_STATIC_DIR).
dashboard_prepare() {
	local dir
	dir=$(dashboard_static_dir "$STACK")
	export HATCHET_STATIC_DIR=$dir
}

# dashboard_refresh: for `make up`: stops a running hatchet-lite that serves
# something else than what it would serve now (the API-only page of a time
# without npm, or another version's dashboard), so that it starts again.
dashboard_refresh() {
	pid_alive hatchet || return 0
	local dir
	dir=$(dashboard_static_dir "$STACK")
	[ "$(dashboard_served)" != "$dir" ] || return 0
	say "restarting hatchet-lite to serve $dir"
	stop_one hatchet
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	case ${1:-serve} in
	build)
		dashboard_build
		;;
	build-now)
		dashboard_build_now
		;;
	serve)
		dashboard_build
		STACK=${PARLEY_STACK_DIR:-$DASHBOARD_ROOT/.stack}
		RUN=$STACK/run
		if [ "$(dashboard_served)" != "$(dashboard_dist)" ]; then
			"$DASHBOARD_ROOT/scripts/stack.sh" restart hatchet
		fi
		dashboard_say "http://localhost:${HATCHET_DASHBOARD_PORT:-8888} (admin@example.com / Admin123!!)"
		;;
	lock)
		command -v node >/dev/null || { dashboard_say "Node.js is needed"; exit 1; }
		mkdir -p "$(dashboard_cache)"
		version=$(dashboard_version)
		mod=$(dashboard_module)
		tmp=$(mktemp -d)
		trap 'rm -rf "$tmp"' EXIT
		cp "$mod/frontend/app/pnpm-lock.yaml" "$mod/frontend/app/pnpm-workspace.yaml" "$tmp/"
		node "$DASHBOARD_TOOLS/dashboard.mjs" package-json "$version" <"$mod/frontend/app/package.json" >"$tmp/package.json"
		chmod -R u+w "$tmp"
		# Starting from Hatchet's lockfile, pnpm keeps its resolutions and
		# only drops what is no longer needed and resolves what changed.
		(cd "$tmp" && dashboard_pnpm install --lockfile-only --ignore-scripts --store-dir "$tmp/.pnpm-store")
		# Pin pnpm itself too (the tarball dashboard_pnpm just checked against
		# it): packageManager pnpm@VERSION+sha512.HEX, as corepack writes it.
		pnpm_version=$(dashboard_pnpm_version "$tmp/package.json")
		pnpm_sha=$(dashboard_registry_sha512 "$pnpm_version")
		[ -n "$pnpm_sha" ]
		node -e '
			const fs = require("fs"), [file, v, sha] = process.argv.slice(1);
			const p = JSON.parse(fs.readFileSync(file, "utf8"));
			p.packageManager = `pnpm@${v}+sha512.${sha}`;
			fs.writeFileSync(file, JSON.stringify(p, null, 2) + "\n");' "$tmp/package.json" "$pnpm_version" "$pnpm_sha"
		cp "$tmp/package.json" "$tmp/pnpm-lock.yaml" "$DASHBOARD_TOOLS/"
		dashboard_say "wrote tools/dashboard/package.json and pnpm-lock.yaml for Hatchet $version"
		;;
	*)
		echo "usage: $0 [serve|build|lock]" >&2
		exit 2
		;;
	esac
fi
