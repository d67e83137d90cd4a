#!/usr/bin/env bash
# Parley's local stack, without Docker: PostgreSQL databases, hatchet-lite,
# MinIO, and (for `up`) parley worker + parley serve (+ parley-sim when no
# providers are configured).
#
#   scripts/stack.sh up        whole stack (make up)
#   scripts/stack.sh infra     PostgreSQL dbs + hatchet-lite + MinIO (tests)
#   scripts/stack.sh down      stop what up/infra started (make down)
#   scripts/stack.sh status    what runs
#   scripts/stack.sh restart SERVICE   restart hatchet|minio|worker|serve|sim
#   scripts/stack.sh install   packages and binaries only
#
# Everything is idempotent: a running, ready service is left alone. State
# lives in .stack/ (env, logs, pids, data); built engine and MinIO binaries
# are cached under $HOME/.cache/parley/<name>-<version>/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK=${PARLEY_STACK_DIR:-$ROOT/.stack}
CACHE=${PARLEY_CACHE_DIR:-$HOME/.cache/parley}
LOGS=$STACK/logs
RUN=$STACK/run

# The engine is built from the same Hatchet version as the SDK Parley links:
# go.mod is the one place that names it; tools/hatchet/go.mod must agree.
hatchet_pin() { awk '{for (i = 1; i < NF; i++) if ($i == "github.com/hatchet-dev/hatchet") {print $(i + 1); exit}}' "$1"; }
HATCHET_VERSION=$(hatchet_pin "$ROOT/go.mod")
MINIO_VERSION=$(awk '/github.com\/minio\/minio /{print $2}' "$ROOT/tools/minio/go.mod")
# Parley builds its own hatchet-lite main (tools/hatchet/cmd): the cache
# key covers it, so that a change to it rebuilds the binaries.
HATCHET_BIN=$CACHE/hatchet-$HATCHET_VERSION-$(cd "$ROOT/tools/hatchet" && cat go.mod go.sum cmd/*/*.go | sha256sum | cut -c1-10)
MINIO_BIN=$CACHE/minio-$MINIO_VERSION

# Ports and addresses (contract section 1), overridable by env.
PG_HOST=${PARLEY_PG_HOST:-127.0.0.1}
PG_PORT=${PARLEY_PG_PORT:-5432}
PG_SUPERUSER=${PARLEY_PG_SUPERUSER:-postgres}
HATCHET_GRPC_PORT=${HATCHET_GRPC_PORT:-7077}
HATCHET_DASHBOARD_PORT=${HATCHET_DASHBOARD_PORT:-8888}
HATCHET_API_PORT=${HATCHET_API_PORT:-8890}
HATCHET_STATIC_PORT=${HATCHET_STATIC_PORT:-8081}
HATCHET_HEALTH_PORT=${HATCHET_HEALTH_PORT:-8733}
MINIO_PORT=${MINIO_PORT:-9000}
MINIO_CONSOLE_PORT=${MINIO_CONSOLE_PORT:-9001}
PARLEY_PORT=${PARLEY_PORT:-1250}
WORKER_HEALTH_PORT=${PARLEY_WORKER_HEALTH_PORT:-1251}
SIM_PORT=${PARLEY_SIM_PORT:-9999}
READY_TIMEOUT=${PARLEY_READY_TIMEOUT:-120}
# The Hatchet engine's database (several stacks can share one PostgreSQL).
HATCHET_DB=${PARLEY_HATCHET_DB:-hatchet}
PARTITION_NAME="parley-lite:$STACK"

TENANT_ID=707d0855-80ab-4e1f-a156-f1c4546cbf52 # hatchet-admin quickstart's default tenant

# The Hatchet dashboard: dashboard_prepare, dashboard_refresh.
# shellcheck source=dashboard.sh
. "$ROOT/scripts/dashboard.sh"

PACKAGES=(libavcodec-dev libavformat-dev libavfilter-dev libavutil-dev libswresample-dev
	libswscale-dev libavdevice-dev pkg-config ffmpeg espeak-ng curl chromium)

say() { printf '\033[1mstack:\033[0m %s\n' "$*" >&2; }
die() {
	printf 'stack: error: %s\n' "$*" >&2
	exit 1
}

# --- installation --------------------------------------------------------

install_packages() {
	local missing=()
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if ! command -v psql >/dev/null; then missing+=(postgresql postgresql-client); fi
	if ! command -v node >/dev/null; then missing+=(nodejs); fi # the web page's unit tests
	if ! command -v python3 >/dev/null; then missing+=(python3); fi # the dashboard's docs index (scripts/dashboard.sh)
	[ ${#missing[@]} -eq 0 ] && return 0
	say "installing Debian packages: ${missing[*]}"
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	$sudo apt-get update -qq >"$LOGS/apt.log" 2>&1 || true
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOGS/apt.log" 2>&1 ||
		{ tail -20 "$LOGS/apt.log" >&2; die "apt-get install failed (log: $LOGS/apt.log)"; }
}

# build_tool NAME DIR LDFLAGS PKG... builds packages of the tools module DIR
# into the cache directory NAME (atomically: a half-built cache never counts).
build_tool() {
	local dest=$1 mod=$2 ldflags=$3
	shift 3
	[ -f "$dest/.complete" ] && return 0
	say "building $(basename "$dest") from the Go module proxy (first run only; a few minutes)"
	local tmp
	tmp=$(mktemp -d "$CACHE/.build.XXXXXX")
	local t0=$SECONDS
	if ! (cd "$ROOT/tools/$mod" && GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$tmp/" "$@") >"$LOGS/build-$mod.log" 2>&1; then
		tail -30 "$LOGS/build-$mod.log" >&2
		rm -rf "$tmp"
		die "building $mod failed (log: $LOGS/build-$mod.log)"
	fi
	rm -rf "$dest"
	mv "$tmp" "$dest"
	touch "$dest/.complete"
	say "built $(basename "$dest") in $((SECONDS - t0)) s"
}

install_binaries() {
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9
	build_tool "$HATCHET_BIN" hatchet "-s -w -X main.Version=$HATCHET_VERSION" \
		./cmd/hatchet-lite \
		github.com/hatchet-dev/hatchet/cmd/hatchet-admin \
		github.com/hatchet-dev/hatchet/cmd/hatchet-migrate
	build_tool "$MINIO_BIN" minio "-s -w" github.com/minio/minio
	flock -u 9
}

build_parley() {
	mkdir -p "$STACK/bin" "$STACK/bin.new"
	(cd "$ROOT" && go build -o "$STACK/bin.new/" ./cmd/parley ./cmd/parley-sim) >"$LOGS/build-parley.log" 2>&1 ||
		{ tail -30 "$LOGS/build-parley.log" >&2; die "building parley failed (log: $LOGS/build-parley.log)"; }
	# Replace only what changed, so that running services of an unchanged
	# build are left alone (their pid files are newer than the binaries).
	for b in parley parley-sim; do
		if ! cmp -s "$STACK/bin.new/$b" "$STACK/bin/$b"; then mv "$STACK/bin.new/$b" "$STACK/bin/$b"; fi
	done
	rm -rf "$STACK/bin.new"
}

# --- process helpers -----------------------------------------------------

pid_alive() { # name
	local f=$RUN/$1.pid
	[ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

# current NAME BINARY: running and started after BINARY was last built.
current() {
	pid_alive "$1" && [ ! "$2" -nt "$RUN/$1.pid" ]
}

start_bg() { # name cmd... (env already exported)
	local name=$1
	shift
	: >"$LOGS/$name.log"
	setsid nohup "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
	echo $! >"$RUN/$name.pid"
}

# wait_ready NAME CHECK-COMMAND...: polls the readiness probe until it
# passes, the process dies or READY_TIMEOUT passes; prints the log tail on
# failure.
wait_ready() {
	local name=$1
	shift
	local deadline=$((SECONDS + READY_TIMEOUT)) delay=0.1
	until "$@" >/dev/null 2>&1; do
		if ! pid_alive "$name"; then
			say "$name exited during startup; last lines of $LOGS/$name.log:"
			tail -25 "$LOGS/$name.log" >&2
			die "$name did not start"
		fi
		if [ $SECONDS -ge $deadline ]; then
			say "$name not ready after ${READY_TIMEOUT}s; last lines of $LOGS/$name.log:"
			tail -25 "$LOGS/$name.log" >&2
			die "$name did not become ready"
		fi
		sleep "$delay"
		delay=$(awk "BEGIN{d=$delay*1.5; print (d>1)?1:d}")
	done
}

# stop_one NAME: SIGTERM, then wait for the process to finish its own
# graceful shutdown (hatchet-lite hands its scheduler partitions over, which
# takes several seconds; a kill would leave the next start waiting a minute).
stop_one() { # name
	local f=$RUN/$1.pid
	[ -f "$f" ] || return 0
	local pid wait=10
	[ "$1" = hatchet ] && wait=30
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 $((wait * 10))); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			say "$1 did not stop in $wait s; killing"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		say "stopped $1"
	fi
	rm -f "$f"
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }

# port_free PORT NAME: fails with a clear message when something else
# already listens there (another stack, another program).
port_free() {
	if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
		die "port $1 (for $2) is already in use by another process; stop it or set the port variable (see scripts/stack.sh)"
	fi
}

# --- services ------------------------------------------------------------

psql_admin() { psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" -v ON_ERROR_STOP=1 -qtA "$@"; }

ensure_postgres() {
	if ! pg_isready -h "$PG_HOST" -p "$PG_PORT" -q; then
		if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
			say "starting PostgreSQL"
			pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start ||
				die "could not start PostgreSQL"
		fi
		local deadline=$((SECONDS + 30))
		until pg_isready -h "$PG_HOST" -p "$PG_PORT" -q; do
			[ $SECONDS -ge $deadline ] && die "PostgreSQL on $PG_HOST:$PG_PORT is not reachable"
			sleep 0.2
		done
	fi
	if [ "$(psql_admin -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname='hatchet'")" != 1 ]; then
		psql_admin -d postgres -c "CREATE ROLE hatchet LOGIN PASSWORD 'hatchet'"
	fi
	if [ "$(psql_admin -d postgres -c "SELECT 1 FROM pg_database WHERE datname='$HATCHET_DB'")" != 1 ]; then
		say "creating database $HATCHET_DB"
		psql_admin -d postgres -c "CREATE DATABASE \"$HATCHET_DB\" OWNER hatchet"
	fi
	psql_admin -d postgres -c "ALTER DATABASE \"$HATCHET_DB\" SET timezone TO 'UTC'"
	if [ "$(psql_admin -d postgres -c "SELECT 1 FROM pg_database WHERE datname='parley'")" != 1 ]; then
		say "creating database parley"
		psql_admin -d postgres -c "CREATE DATABASE parley"
	fi
}

hatchet_env() {
	export DATABASE_URL="postgresql://hatchet:hatchet@$PG_HOST:$PG_PORT/$HATCHET_DB?sslmode=disable"
	export DATABASE_MAX_CONNS=${HATCHET_DATABASE_MAX_CONNS:-12}
	export DATABASE_LOGGER_LEVEL=warn SERVER_LOGGER_LEVEL=warn SERVER_LOGGER_FORMAT=console DATABASE_LOGGER_FORMAT=console
	export SERVER_MSGQUEUE_KIND=postgres
	export SERVER_PORT=$HATCHET_API_PORT
	export SERVER_URL=http://localhost:$HATCHET_DASHBOARD_PORT
	export SERVER_GRPC_PORT=$HATCHET_GRPC_PORT SERVER_GRPC_BIND_ADDRESS=127.0.0.1 SERVER_GRPC_INSECURE=t
	export SERVER_GRPC_BROADCAST_ADDRESS=localhost:$HATCHET_GRPC_PORT
	export SERVER_INTERNAL_CLIENT_INTERNAL_GRPC_BROADCAST_ADDRESS=localhost:$HATCHET_GRPC_PORT
	export SERVER_AUTH_COOKIE_DOMAIN=localhost SERVER_AUTH_COOKIE_INSECURE=t SERVER_AUTH_SET_EMAIL_VERIFIED=t
	export SERVER_DEFAULT_ENGINE_VERSION=V1 SERVER_SECURITY_CHECK_ENABLED=f
	export SERVER_HEALTHCHECK_PORT=$HATCHET_HEALTH_PORT
	export LITE_STATIC_ASSET_DIR=${HATCHET_STATIC_DIR:-$STACK/hatchet/static}
	export LITE_FRONTEND_PORT=$HATCHET_STATIC_PORT LITE_RUNTIME_PORT=$HATCHET_DASHBOARD_PORT
	# The engine names its scheduler/controller/worker partitions after
	# $HOSTNAME: one name per stack lets ensure_hatchet find its own.
	export HOSTNAME=$PARTITION_NAME
}

# drop_stale_partitions: a hatchet-lite that was killed rather than stopped
# (crash, reboot, kill -9) leaves its partitions and leases behind. The
# engine hands a tenant over only once the old scheduler partition's
# heartbeat is a minute old, and takes over a queue only once the old
# process's lease on it has expired (30 s), so every run would wait that
# long after the next start. Our engine is not running here (checked by
# the caller), so its partitions are stale: delete them, and, when no other
# engine heartbeats on this database, the scheduling leases too, as the
# engine's own graceful shutdown does.
drop_stale_partitions() {
	local t n=0 live
	for t in SchedulerPartition ControllerPartition TenantWorkerPartition; do
		n=$((n + $(psql_admin -d "$HATCHET_DB" -v name="$PARTITION_NAME" 2>/dev/null \
			<<<"WITH d AS (DELETE FROM \"$t\" WHERE name = :'name' RETURNING 1) SELECT count(*) FROM d" || echo 0)))
	done
	[ "$n" -gt 0 ] || return 0
	say "removed $n partition(s) a killed hatchet-lite left behind"
	live=$(psql_admin -d "$HATCHET_DB" -c \
		"SELECT count(*) FROM \"SchedulerPartition\" WHERE \"lastHeartbeat\" > now() - interval '1 minute'" 2>/dev/null || echo 1)
	if [ "$live" = 0 ]; then
		psql_admin -d "$HATCHET_DB" -c \
			"DELETE FROM \"Lease\" WHERE kind IN ('QUEUE', 'WORKER', 'CONCURRENCY_STRATEGY')" >/dev/null 2>&1 || true
	fi
}

ensure_hatchet() {
	local ready="http://127.0.0.1:$HATCHET_API_PORT/api/ready"
	if pid_alive hatchet && http_ok "$ready"; then return 0; fi
	stop_one hatchet
	port_free "$HATCHET_GRPC_PORT" hatchet-lite
	port_free "$HATCHET_API_PORT" hatchet-lite
	dashboard_prepare # the dashboard (built once, cached), or an API-only page without npm
	(
		hatchet_env
		cd "$STACK/hatchet"
		say "migrating the hatchet database"
		"$HATCHET_BIN/hatchet-migrate" >"$LOGS/hatchet-migrate.log" 2>&1 ||
			{ tail -20 "$LOGS/hatchet-migrate.log" >&2; die "hatchet-migrate failed"; }
		drop_stale_partitions
		"$HATCHET_BIN/hatchet-admin" quickstart --skip certs --generated-config-dir ./config --overwrite=false \
			>"$LOGS/hatchet-quickstart.log" 2>&1 ||
			{ tail -20 "$LOGS/hatchet-quickstart.log" >&2; die "hatchet-admin quickstart failed"; }
		say "starting hatchet-lite (dashboard :$HATCHET_DASHBOARD_PORT, gRPC :$HATCHET_GRPC_PORT)"
		: >"$RUN/hatchet.restarted"
		start_bg hatchet "$HATCHET_BIN/hatchet-lite" --config ./config
		wait_ready hatchet http_ok "$ready"
		# A token belongs to one hatchet database: make a new one when the
		# database was recreated since (its oid changed).
		db_oid=$(psql_admin -d postgres -c "SELECT oid FROM pg_database WHERE datname='$HATCHET_DB'")
		if [ ! -s token ] || [ "$(cat token.db 2>/dev/null)" != "$db_oid" ]; then
			# stdout only: stderr carries a log line that would corrupt the token
			"$HATCHET_BIN/hatchet-admin" token create --config ./config --tenant-id "$TENANT_ID" \
				--name parley-worker --expiresIn 87600h 2>>"$LOGS/hatchet-token.log" | tr -d '\n' >token.tmp
			[ -s token.tmp ] || die "could not create a Hatchet worker token (log: $LOGS/hatchet-token.log)"
			mv token.tmp token
			chmod 600 token
			echo "$db_oid" >token.db
		fi
	)
}

minio_credentials() {
	local f=$STACK/minio/credentials
	if [ ! -s "$f" ]; then
		mkdir -p "$STACK/minio"
		printf 'parley\n%s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$f"
		chmod 600 "$f"
	fi
	MINIO_USER=$(sed -n 1p "$f")
	MINIO_PASSWORD=$(sed -n 2p "$f")
}

ensure_minio() {
	minio_credentials
	local ready="http://127.0.0.1:$MINIO_PORT/minio/health/live"
	if ! (pid_alive minio && http_ok "$ready"); then
		stop_one minio
		port_free "$MINIO_PORT" MinIO
		mkdir -p "$STACK/minio/data"
		say "starting MinIO (:$MINIO_PORT)"
		MINIO_ROOT_USER=$MINIO_USER MINIO_ROOT_PASSWORD=$MINIO_PASSWORD MINIO_BROWSER=off MINIO_UPDATE=off \
			start_bg minio "$MINIO_BIN/minio" server "$STACK/minio/data" --quiet \
			--address "127.0.0.1:$MINIO_PORT" --console-address "127.0.0.1:$MINIO_CONSOLE_PORT"
		wait_ready minio http_ok "$ready"
	fi
	local bucket=${S3_BUCKET:-parley}
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user "$MINIO_USER:$MINIO_PASSWORD" "http://127.0.0.1:$MINIO_PORT/$bucket")
	case $code in
	200 | 409) ;;
	*) die "could not create bucket $bucket in MinIO (HTTP $code)" ;;
	esac
}

write_env() {
	minio_credentials
	local token
	token=$(cat "$STACK/hatchet/token")
	umask 077
	cat >"$STACK/env.tmp" <<-EOF
		# Written by scripts/stack.sh; source it to talk to the local stack.
		export PARLEY_STACK_DIR='$STACK'
		export DATABASE_URL='postgres://$PG_HOST:$PG_PORT/parley?sslmode=disable'
		export TEST_DATABASE_URL='postgres://$PG_HOST:$PG_PORT/parley?sslmode=disable'
		export HATCHET_DATABASE_URL='postgresql://hatchet:hatchet@$PG_HOST:$PG_PORT/$HATCHET_DB?sslmode=disable'
		export HATCHET_CLIENT_TOKEN='$token'
		export HATCHET_CLIENT_TLS_STRATEGY=none
		export HATCHET_CLIENT_HOST_PORT='localhost:$HATCHET_GRPC_PORT'
		export HATCHET_CLIENT_SERVER_URL='http://localhost:$HATCHET_DASHBOARD_PORT'
		export HATCHET_CLIENT_LOG_LEVEL=warn
		export HATCHET_CLIENT_LOG_FORMAT=console
		export S3_ENDPOINT='127.0.0.1:$MINIO_PORT'
		export S3_USE_TLS=false
		export S3_BUCKET='${S3_BUCKET:-parley}'
		export AWS_ACCESS_KEY_ID='$MINIO_USER'
		export AWS_SECRET_ACCESS_KEY='$MINIO_PASSWORD'
		export AWS_REGION=us-east-1
		export PARLEY_HTTP_ADDR='127.0.0.1:$PARLEY_PORT'
		export PARLEY_API_URL='http://127.0.0.1:$PARLEY_PORT'
		export UI_BASE_URL='http://127.0.0.1:$PARLEY_PORT'
		export PARLEY_WORKER_HEALTH_ADDR='127.0.0.1:$WORKER_HEALTH_PORT'
		export PARLEY_BIN_DIR='$STACK/bin'
	EOF
	if [ -n "${SIM_ACTIVE:-}" ]; then
		cat >>"$STACK/env.tmp" <<-EOF
			# No ASR/LLM provider was configured: parley-sim stands in for them.
			export PARLEY_SIM_URL='http://127.0.0.1:$SIM_PORT'
			export TRANSCRIPT_BACKEND=openai
			export TRANSCRIPT_URL='http://127.0.0.1:$SIM_PORT/v1'
			export TRANSCRIPT_API_KEY=sim
			export LLM_URL='http://127.0.0.1:$SIM_PORT/v1'
			export LLM_API_KEY=sim
			export DAILY_API_URL='http://127.0.0.1:$SIM_PORT/v1'
			export DAILY_API_KEY=sim
			# Webhooks and Zulip may reach the simulator (and nothing else on loopback).
			export PARLEY_EGRESS_ALLOW='127.0.0.1:$SIM_PORT'
		EOF
	fi
	mv "$STACK/env.tmp" "$STACK/env"
}

# providers_configured: the user configured real ASR and LLM endpoints (a
# shell that sourced .stack/env points at our own simulator: that does not
# count).
providers_configured() {
	local sim="http://127.0.0.1:$SIM_PORT"
	case "${TRANSCRIPT_URL:-}${LLM_URL:-}" in *"$sim"*) return 1 ;; esac
	[ -n "${TRANSCRIPT_URL:-}${TRANSCRIPT_API_KEY:-}" ] && [ -n "${LLM_URL:-}${LLM_API_KEY:-}" ]
}

ensure_sim() {
	if providers_configured && [ "${PARLEY_SIM:-auto}" != 1 ]; then
		stop_one sim
		return 0
	fi
	SIM_ACTIVE=1
	local ready="http://127.0.0.1:$SIM_PORT/_sim/health"
	if current sim "$STACK/bin/parley-sim" && http_ok "$ready"; then return 0; fi
	stop_one sim
	port_free "$SIM_PORT" parley-sim
	say "no ASR/LLM provider configured: starting parley-sim, the local simulator (:$SIM_PORT)"
	start_bg sim "$STACK/bin/parley-sim" -addr "127.0.0.1:$SIM_PORT" -log "$LOGS/sim-requests.jsonl"
	wait_ready sim http_ok "$ready"
}

ensure_parley() {
	# shellcheck disable=SC1091
	. "$STACK/env"
	"$STACK/bin/parley" migrate >"$LOGS/migrate.log" 2>&1 || { tail -20 "$LOGS/migrate.log" >&2; die "parley migrate failed"; }
	# A worker that outlived its engine (a crashed hatchet-lite) only
	# reconnects after the SDK's backoff, up to half a minute: restart it.
	if [ -f "$RUN/hatchet.restarted" ] && pid_alive worker; then
		say "hatchet-lite was restarted: restarting parley worker so that it registers at once"
		stop_one worker
	fi
	rm -f "$RUN/hatchet.restarted"
	if ! (current worker "$STACK/bin/parley" && http_ok "http://$PARLEY_WORKER_HEALTH_ADDR/healthz"); then
		stop_one worker
		port_free "${PARLEY_WORKER_HEALTH_ADDR##*:}" "parley worker"
		say "starting parley worker"
		start_bg worker "$STACK/bin/parley" worker
		wait_ready worker http_ok "http://$PARLEY_WORKER_HEALTH_ADDR/healthz"
	fi
	if ! (current serve "$STACK/bin/parley" && http_ok "$PARLEY_API_URL/readyz"); then
		stop_one serve
		port_free "${PARLEY_HTTP_ADDR##*:}" "parley serve"
		say "starting parley serve ($PARLEY_API_URL)"
		start_bg serve "$STACK/bin/parley" serve
		wait_ready serve http_ok "$PARLEY_API_URL/readyz"
	fi
	# Every process answering is not enough: the engine may accept runs and
	# not schedule them yet. Ready means a run started and finished.
	local out
	if ! out=$("$STACK/bin/parley" ready --timeout "${READY_TIMEOUT}s" 2>&1); then
		printf '%s\n' "$out" >&2
		die "Hatchet does not run workflows (logs: $LOGS/hatchet.log, $LOGS/worker.log)"
	fi
	say "$out"
}

# --- commands ------------------------------------------------------------

setup_dirs() { mkdir -p "$STACK" "$LOGS" "$RUN" "$STACK/hatchet"; }

cmd_install() {
	local engine
	engine=$(hatchet_pin "$ROOT/tools/hatchet/go.mod")
	if [ -z "$HATCHET_VERSION" ] || [ "$HATCHET_VERSION" != "$engine" ]; then
		die "go.mod pins the Hatchet SDK at ${HATCHET_VERSION:-nothing} but tools/hatchet/go.mod builds engine ${engine:-nothing}; pin the same version in both"
	fi
	setup_dirs
	install_packages
	install_binaries
}

cmd_infra() {
	cmd_install
	ensure_postgres
	ensure_hatchet
	ensure_minio
	SIM_ACTIVE=$(pid_alive sim && echo 1 || true)
	write_env
}

cmd_up() {
	cmd_install
	build_parley
	ensure_postgres
	dashboard_refresh
	ensure_hatchet
	ensure_minio
	ensure_sim
	write_env
	ensure_parley
	say "ready: web page $PARLEY_API_URL, Hatchet dashboard http://localhost:$HATCHET_DASHBOARD_PORT (admin@example.com / Admin123!!)"
	say "environment: source .stack/env; logs: .stack/logs/"
}

cmd_down() {
	[ -d "$RUN" ] || return 0
	for s in serve worker sim minio hatchet; do stop_one "$s"; done
}

cmd_status() {
	for s in hatchet minio sim worker serve; do
		if pid_alive "$s"; then echo "$s: running (pid $(cat "$RUN/$s.pid"))"; else echo "$s: stopped"; fi
	done
}

cmd_restart() {
	local s=${1:?service}
	stop_one "$s"
	case $s in
	hatchet) ensure_hatchet ;;
	minio) ensure_minio ;;
	sim) ensure_sim ;;
	worker | serve) ensure_parley ;;
	*) die "unknown service $s" ;;
	esac
}

case ${1:-} in
up) cmd_up ;;
infra) cmd_infra ;;
down) cmd_down ;;
status) cmd_status ;;
install) cmd_install ;;
restart) shift; setup_dirs; cmd_restart "$@" ;;
*) die "usage: $0 up|infra|down|status|install|restart SERVICE" ;;
esac
