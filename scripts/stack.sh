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
#   scripts/stack.sh reset     down, then drop the Hatchet database (and the
#                              cluster's RabbitMQ vhost): the next up starts clean
#
# Everything is idempotent: a running, ready service is left alone. State
# lives in .stack/ (env, logs, pids, data); built engine and MinIO binaries
# are cached under $HOME/.cache/parley/<name>-<version>/.
#
# PARLEY_HATCHET=cluster runs the scale-out deployment instead of
# hatchet-lite: hatchet-api and two hatchet-engine replicas (behind
# engine-lb, one gRPC address, as a Kubernetes Service would be) on the
# database hatchet_cluster with RabbitMQ (127.0.0.1:5672, vhost
# parley-<database>) as the message queue, and three parley workers, one in
# the CPU pool. It is a separate stack (.stack-cluster/, other ports), so it
# can run beside the normal one. No dashboard: the REST API answers on
# HATCHET_API_PORT.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=${PARLEY_HATCHET:-lite}
case $MODE in
lite) STACK=${PARLEY_STACK_DIR:-$ROOT/.stack} ;;
cluster) STACK=${PARLEY_STACK_DIR:-$ROOT/.stack-cluster} ;;
*)
	echo "stack: error: PARLEY_HATCHET=$MODE: use lite (the default) or cluster" >&2
	exit 1
	;;
esac
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
HATCHET_KEY=$(cd "$ROOT/tools/hatchet" && cat go.mod go.sum cmd/*/*.go | sha256sum | cut -c1-10)
HATCHET_BIN=$CACHE/hatchet-$HATCHET_VERSION-$HATCHET_KEY
# The scale-out deployment's binaries (hatchet-engine, hatchet-api as
# Hatchet ships them, and engine-lb), built only when it is used.
HATCHET_CLUSTER_BIN=$CACHE/hatchet-cluster-$HATCHET_VERSION-$HATCHET_KEY
MINIO_BIN=$CACHE/minio-$MINIO_VERSION

# Ports and addresses (contract section 1), overridable by env. The
# cluster's defaults are the normal stack's + 100, so both can run at once.
PG_HOST=${PARLEY_PG_HOST:-127.0.0.1}
PG_PORT=${PARLEY_PG_PORT:-5432}
PG_SUPERUSER=${PARLEY_PG_SUPERUSER:-postgres}
off=0
[ "$MODE" = cluster ] && off=100
HATCHET_GRPC_PORT=${HATCHET_GRPC_PORT:-$((7077 + off))}
HATCHET_DASHBOARD_PORT=${HATCHET_DASHBOARD_PORT:-$((8888 + off))}
HATCHET_API_PORT=${HATCHET_API_PORT:-$((8890 + off))}
HATCHET_STATIC_PORT=${HATCHET_STATIC_PORT:-$((8081 + off))}
HATCHET_HEALTH_PORT=${HATCHET_HEALTH_PORT:-$((8733 + off))}
MINIO_PORT=${MINIO_PORT:-$((9000 + off))}
MINIO_CONSOLE_PORT=${MINIO_CONSOLE_PORT:-$((9001 + off))}
PARLEY_PORT=${PARLEY_PORT:-$((1250 + off))}
WORKER_HEALTH_PORT=${PARLEY_WORKER_HEALTH_PORT:-$((1251 + off))}
SIM_PORT=${PARLEY_SIM_PORT:-$((9999 + off))}
READY_TIMEOUT=${PARLEY_READY_TIMEOUT:-120}
# The Hatchet engine's database (several stacks can share one PostgreSQL).
if [ "$MODE" = cluster ]; then HATCHET_DB=${PARLEY_HATCHET_DB:-hatchet_cluster}; else HATCHET_DB=${PARLEY_HATCHET_DB:-hatchet}; fi
PARTITION_NAME="parley-lite:$STACK"
# The cluster: each engine replica listens on its own gRPC and health port
# (HATCHET_GRPC_PORT + n, HATCHET_HEALTH_PORT + n), engine-lb on
# HATCHET_GRPC_PORT; hatchet-api's health port is HATCHET_HEALTH_PORT.
ENGINES=${PARLEY_HATCHET_ENGINES:-2}
# RabbitMQ: one vhost per Hatchet database, so that two deployments on one
# broker never consume each other's messages (Hatchet has no queue prefix).
RABBITMQ_VHOST=${PARLEY_RABBITMQ_VHOST:-parley-$HATCHET_DB}
RABBITMQ_URL=${PARLEY_RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/$RABBITMQ_VHOST}

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
	if [ "$MODE" = cluster ]; then
		build_tool "$HATCHET_CLUSTER_BIN" hatchet "-s -w -X main.Version=$HATCHET_VERSION" \
			./cmd/engine-lb \
			github.com/hatchet-dev/hatchet/cmd/hatchet-engine \
			github.com/hatchet-dev/hatchet/cmd/hatchet-api
	fi
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
	case $1 in hatchet | hatchet-engine-*) wait=30 ;; esac
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
drop_stale_partitions() { # partition name...
	local t n=0 live name
	for name in "${@:-$PARTITION_NAME}"; do
		for t in SchedulerPartition ControllerPartition TenantWorkerPartition; do
			n=$((n + $(psql_admin -d "$HATCHET_DB" -v name="$name" 2>/dev/null \
				<<<"WITH d AS (DELETE FROM \"$t\" WHERE name = :'name' RETURNING 1) SELECT count(*) FROM d" || echo 0)))
		done
	done
	[ "$n" -gt 0 ] || return 0
	say "removed $n partition(s) a killed engine left behind"
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
		hatchet_token
	)
}

# hatchet_token (in $STACK/hatchet, with hatchet_env): a worker token for
# the default tenant. A token belongs to one hatchet database: make a new
# one when the database was recreated since (its oid changed).
hatchet_token() {
	local db_oid
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
}

# --- the scale-out deployment (PARLEY_HATCHET=cluster) ----------------------

rabbitmq_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

# ensure_vhost: the cluster's RabbitMQ vhost, with guest allowed on it
# (rabbitmqctl, else the management API on :15672). Skipped when
# PARLEY_RABBITMQ_URL names a broker of the user's own.
ensure_vhost() {
	[ -n "${PARLEY_RABBITMQ_URL:-}" ] && return 0
	rabbitmq_up || die "RabbitMQ is not reachable on 127.0.0.1:5672 (the cluster's message queue); start it, or set PARLEY_RABBITMQ_URL"
	if command -v rabbitmqctl >/dev/null && timeout 30 rabbitmqctl -q list_vhosts >/dev/null 2>&1; then
		if ! timeout 30 rabbitmqctl -q list_vhosts | grep -qx "$RABBITMQ_VHOST"; then
			say "creating RabbitMQ vhost $RABBITMQ_VHOST"
			timeout 30 rabbitmqctl -q add_vhost "$RABBITMQ_VHOST" >/dev/null
		fi
		timeout 30 rabbitmqctl -q set_permissions -p "$RABBITMQ_VHOST" guest '.*' '.*' '.*' >/dev/null
	elif curl -fsS -o /dev/null -u guest:guest http://127.0.0.1:15672/api/overview 2>/dev/null; then
		curl -fsS -o /dev/null -u guest:guest -X PUT "http://127.0.0.1:15672/api/vhosts/$RABBITMQ_VHOST"
		curl -fsS -o /dev/null -u guest:guest -X PUT -H 'Content-Type: application/json' \
			-d '{"configure":".*","write":".*","read":".*"}' "http://127.0.0.1:15672/api/permissions/$RABBITMQ_VHOST/guest"
	else
		die "cannot create the RabbitMQ vhost $RABBITMQ_VHOST (neither rabbitmqctl nor the management API on :15672 answers); create it, or set PARLEY_RABBITMQ_URL"
	fi
}

drop_vhost() {
	[ -n "${PARLEY_RABBITMQ_URL:-}" ] && return 0
	if command -v rabbitmqctl >/dev/null && timeout 30 rabbitmqctl -q list_vhosts 2>/dev/null | grep -qx "$RABBITMQ_VHOST"; then
		timeout 60 rabbitmqctl -q delete_vhost "$RABBITMQ_VHOST" >/dev/null
	elif curl -fsS -o /dev/null -u guest:guest http://127.0.0.1:15672/api/overview 2>/dev/null; then
		curl -fsS -o /dev/null -u guest:guest -X DELETE "http://127.0.0.1:15672/api/vhosts/$RABBITMQ_VHOST" || true
	fi
}

engine_name() { echo "parley-engine-$1:$STACK"; } # its partitions' name

cluster_env() {
	hatchet_env
	export SERVER_MSGQUEUE_KIND=rabbitmq SERVER_MSGQUEUE_RABBITMQ_URL=$RABBITMQ_URL
	# Workers and clients reach the engines through engine-lb; there is
	# no dashboard, so links point at the REST API.
	export SERVER_URL=http://localhost:$HATCHET_API_PORT
	export DATABASE_MAX_CONNS=${HATCHET_DATABASE_MAX_CONNS:-10}
}

# ensure_cluster: hatchet-api, ENGINES hatchet-engine replicas and
# engine-lb in front of them, each restarted when it is not running.
ensure_cluster() {
	local ready="http://127.0.0.1:$HATCHET_API_PORT/api/ready" n running=1
	pid_alive hatchet-api && http_ok "$ready" || running=0
	for n in $(seq 1 "$ENGINES"); do
		pid_alive "hatchet-engine-$n" && http_ok "http://127.0.0.1:$((HATCHET_HEALTH_PORT + n))/ready" || running=0
	done
	pid_alive hatchet-lb || running=0
	[ $running = 1 ] && return 0
	ensure_vhost
	(
		cluster_env
		cd "$STACK/hatchet"
		say "migrating the hatchet database ($HATCHET_DB)"
		"$HATCHET_BIN/hatchet-migrate" >"$LOGS/hatchet-migrate.log" 2>&1 ||
			{ tail -20 "$LOGS/hatchet-migrate.log" >&2; die "hatchet-migrate failed"; }
		local dead=()
		for n in $(seq 1 "$ENGINES"); do
			pid_alive "hatchet-engine-$n" || dead+=("$(engine_name "$n")")
		done
		[ ${#dead[@]} -gt 0 ] && drop_stale_partitions "${dead[@]}"
		"$HATCHET_BIN/hatchet-admin" quickstart --skip certs --generated-config-dir ./config --overwrite=false \
			>"$LOGS/hatchet-quickstart.log" 2>&1 ||
			{ tail -20 "$LOGS/hatchet-quickstart.log" >&2; die "hatchet-admin quickstart failed"; }
		if ! (pid_alive hatchet-api && http_ok "$ready"); then
			stop_one hatchet-api
			port_free "$HATCHET_API_PORT" hatchet-api
			say "starting hatchet-api (REST :$HATCHET_API_PORT)"
			SERVER_HEALTHCHECK_PORT=$HATCHET_HEALTH_PORT start_bg hatchet-api "$HATCHET_CLUSTER_BIN/hatchet-api" --config ./config
		fi
		local backends=()
		for n in $(seq 1 "$ENGINES"); do
			local port=$((HATCHET_GRPC_PORT + n)) health=$((HATCHET_HEALTH_PORT + n))
			backends+=(-backend "127.0.0.1:$port")
			pid_alive "hatchet-engine-$n" && http_ok "http://127.0.0.1:$health/ready" && continue
			stop_one "hatchet-engine-$n"
			port_free "$port" "hatchet-engine-$n"
			say "starting hatchet-engine-$n (gRPC :$port)"
			: >"$RUN/hatchet.restarted"
			HOSTNAME=$(engine_name "$n") SERVER_GRPC_PORT=$port SERVER_HEALTHCHECK_PORT=$health \
				start_bg "hatchet-engine-$n" "$HATCHET_CLUSTER_BIN/hatchet-engine" --config ./config
		done
		if ! pid_alive hatchet-lb; then
			port_free "$HATCHET_GRPC_PORT" engine-lb
			start_bg hatchet-lb "$HATCHET_CLUSTER_BIN/engine-lb" -listen "127.0.0.1:$HATCHET_GRPC_PORT" "${backends[@]}"
		fi
		wait_ready hatchet-api http_ok "$ready"
		for n in $(seq 1 "$ENGINES"); do
			wait_ready "hatchet-engine-$n" http_ok "http://127.0.0.1:$((HATCHET_HEALTH_PORT + n))/ready"
		done
		hatchet_token
	)
}

ensure_engine() {
	if [ "$MODE" = cluster ]; then ensure_cluster; else ensure_hatchet; fi
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
	local code try
	# A MinIO that just started on an empty directory can answer 503 for a
	# moment after its liveness probe passes.
	for try in 1 2 3 4 5 6 7 8 9 10; do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" \
			--user "$MINIO_USER:$MINIO_PASSWORD" "http://127.0.0.1:$MINIO_PORT/$bucket")
		[ "$code" = 503 ] || break
		sleep 1
	done
	case $code in
	200 | 409) ;;
	*) die "could not create bucket $bucket in MinIO (HTTP $code)" ;;
	esac
}

write_env() {
	minio_credentials
	local token
	token=$(cat "$STACK/hatchet/token")
	local hatchet_url=http://localhost:$HATCHET_DASHBOARD_PORT
	[ "$MODE" = cluster ] && hatchet_url=http://localhost:$HATCHET_API_PORT
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
		export HATCHET_CLIENT_SERVER_URL='$hatchet_url'
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
	if [ "$MODE" = cluster ]; then
		cat >>"$STACK/env.tmp" <<-EOF
			# The scale-out deployment: one mixdown at a time per CPU-pool worker
			# (one here). Every worker must declare the same.
			export PARLEY_HATCHET=cluster
			export PARLEY_MIXDOWN_CONCURRENCY=1
		EOF
	fi
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

# workers: the parley workers of this stack. The cluster has three, one of
# them in the CPU pool (PARLEY_WORKER_POOL=cpu: pad_track and
# mixdown_tracks go there first).
workers() {
	if [ "$MODE" = cluster ]; then echo worker worker-2 worker-cpu; else echo worker; fi
}

ensure_worker() { # name
	local port=${PARLEY_WORKER_HEALTH_ADDR##*:} pool=""
	case $1 in
	worker-2) port=$((port + 1)) ;;
	worker-cpu) port=$((port + 2)) pool=cpu ;;
	esac
	current "$1" "$STACK/bin/parley" && http_ok "http://127.0.0.1:$port/healthz" && return 0
	stop_one "$1"
	port_free "$port" "parley $1"
	say "starting parley $1${pool:+ (pool $pool)}"
	PARLEY_WORKER_HEALTH_ADDR=127.0.0.1:$port PARLEY_WORKER_POOL=$pool start_bg "$1" "$STACK/bin/parley" worker
	wait_ready "$1" http_ok "http://127.0.0.1:$port/healthz"
}

ensure_parley() {
	# shellcheck disable=SC1091
	. "$STACK/env"
	"$STACK/bin/parley" migrate >"$LOGS/migrate.log" 2>&1 || { tail -20 "$LOGS/migrate.log" >&2; die "parley migrate failed"; }
	# A worker that outlived its engine (a crashed hatchet-lite) only
	# reconnects after the SDK's backoff, up to half a minute: restart it.
	local w
	for w in $(workers); do
		if [ -f "$RUN/hatchet.restarted" ] && pid_alive "$w"; then
			say "the Hatchet engine was restarted: restarting $w so that it registers at once"
			stop_one "$w"
		fi
	done
	rm -f "$RUN/hatchet.restarted"
	for w in $(workers); do ensure_worker "$w"; done
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
		die "Hatchet does not run workflows (logs: $LOGS/hatchet*.log, $LOGS/worker*.log)"
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
	ensure_engine
	ensure_minio
	SIM_ACTIVE=$(pid_alive sim && echo 1 || true)
	write_env
}

cmd_up() {
	cmd_install
	build_parley
	ensure_postgres
	[ "$MODE" = cluster ] || dashboard_refresh
	ensure_engine
	ensure_minio
	ensure_sim
	write_env
	ensure_parley
	if [ "$MODE" = cluster ]; then
		say "ready: web page $PARLEY_API_URL; Hatchet: hatchet-api :$HATCHET_API_PORT, $ENGINES hatchet-engine replicas behind :$HATCHET_GRPC_PORT, RabbitMQ vhost $RABBITMQ_VHOST, database $HATCHET_DB"
	else
		say "ready: web page $PARLEY_API_URL, Hatchet dashboard http://localhost:$HATCHET_DASHBOARD_PORT (admin@example.com / Admin123!!)"
	fi
	say "environment: source ${STACK#"$ROOT"/}/env; logs: ${STACK#"$ROOT"/}/logs/"
}

# services: what this stack runs, in stopping order.
services() {
	if [ "$MODE" = cluster ]; then
		echo serve worker-cpu worker-2 worker sim minio hatchet-lb
		for n in $(seq "$ENGINES" -1 1); do echo "hatchet-engine-$n"; done
		echo hatchet-api
	else
		echo serve worker sim minio hatchet
	fi
}

cmd_down() {
	[ -d "$RUN" ] || return 0
	for s in $(services); do stop_one "$s"; done
}

cmd_status() {
	for s in $(services | tr ' ' '\n' | tac); do
		if pid_alive "$s"; then echo "$s: running (pid $(cat "$RUN/$s.pid"))"; else echo "$s: stopped"; fi
	done
}

# cmd_reset: stop, then drop the Hatchet database (and the cluster's vhost)
# and this stack's Hatchet state, so that the next up starts from nothing.
cmd_reset() {
	cmd_down
	psql_admin -d postgres -c "DROP DATABASE IF EXISTS \"$HATCHET_DB\" WITH (FORCE)"
	[ "$MODE" = cluster ] && drop_vhost
	rm -rf "$STACK/hatchet"
	if [ "$MODE" = cluster ]; then say "dropped database $HATCHET_DB and RabbitMQ vhost $RABBITMQ_VHOST"; else say "dropped database $HATCHET_DB"; fi
}

cmd_restart() {
	local s=${1:?service}
	stop_one "$s"
	case $s in
	hatchet | hatchet-api | hatchet-engine-* | hatchet-lb) ensure_engine ;;
	minio) ensure_minio ;;
	sim) ensure_sim ;;
	worker | worker-2 | worker-cpu | serve) ensure_parley ;;
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
reset) cmd_reset ;;
*) die "usage: $0 up|infra|down|status|install|reset|restart SERVICE" ;;
esac
