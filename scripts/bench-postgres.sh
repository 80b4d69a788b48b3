#!/usr/bin/env bash
# bench-postgres.sh: the reservation benchmarks side by side with their
# PostgreSQL peer (issue 3, DESIGN.md "Performance targets"), in one run.
#
# It installs PostgreSQL from Debian packages if it is missing, creates a
# throw-away cluster in a temporary directory (run by the postgres user when
# started as root), starts it on 127.0.0.1 on a free port with its unix
# socket in that directory and fsync on, runs
#
#   go test -run '^$' -bench <hostsales and PostgreSQL benchmarks> ./reservations/
#
# with HOSTSALES_PG_DSN pointing at it, prints the results and the ratios
# hostsales ops/s / PostgreSQL ops/s, and stops and removes the cluster on
# exit.
#
# Environment:
#   BENCHTIME  go test -benchtime (default 3s)
#   COUNT      go test -count (default 1); ratios use the mean of the runs
#   PG_VIA     tcp (default: 127.0.0.1) or socket (the unix socket)
#   PG_MAJOR   PostgreSQL major version to prefer (default 15)
#   OUT        file to keep the go test output in (default: in the temp dir,
#              removed on exit)
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCHTIME=${BENCHTIME:-3s}
COUNT=${COUNT:-1}
PG_VIA=${PG_VIA:-tcp}
PG_MAJOR=${PG_MAJOR:-15}

case $PG_VIA in tcp | socket) ;; *)
	echo "PG_VIA must be tcp or socket, not $PG_VIA" >&2
	exit 2
	;;
esac

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# as_pg runs a PostgreSQL program as the postgres user when we are root
# (postgres refuses to run as root), else as ourselves.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bindir() {
	local d
	for d in "/usr/lib/postgresql/$PG_MAJOR/bin" $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

if ! bindir=$(pg_bindir); then
	echo "== installing PostgreSQL from Debian packages" >&2
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
	bindir=$(pg_bindir) || {
		echo "PostgreSQL is installed but no initdb was found under /usr/lib/postgresql" >&2
		exit 1
	}
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hostsales-pg.XXXXXX")
data=$tmp/data
started=
cleanup() {
	local rc=$?
	if [ -n "$started" ]; then
		as_pg "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null || true
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ "$(id -u)" -eq 0 ]; then
	chown postgres:postgres "$tmp"
fi
out=${OUT:-$tmp/bench.txt}

echo "== initdb in $data ($bindir)"
as_pg "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-locale >"$tmp/initdb.log" 2>&1 || {
	cat "$tmp/initdb.log" >&2
	exit 1
}

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local port
	for _ in $(seq 100); do
		port=$((20000 + RANDOM % 40000))
		if command -v ss >/dev/null; then
			[ -z "$(ss -Hltn "sport = :$port")" ] && { echo "$port"; return 0; }
		elif ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

# Start on loopback only, the socket in the temp dir, durability settings
# explicit (they are PostgreSQL's defaults). A port taken between the
# check and the start makes pg_ctl fail; try another.
for attempt in 1 2 3 4 5; do
	port=$(free_port)
	if as_pg "$bindir/pg_ctl" -D "$data" -l "$tmp/postgres.log" -w -t 60 -o \
		"-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_connections=100" \
		start >/dev/null; then
		started=1
		break
	fi
	echo "pg_ctl start on port $port failed (attempt $attempt):" >&2
	tail -n 5 "$tmp/postgres.log" >&2 || true
done
[ -n "$started" ] || exit 1

psql() { as_pg "$bindir/psql" -h "$tmp" -p "$port" -U postgres -X -q "$@"; }
psql -d postgres -c "CREATE DATABASE hostsales_bench" >/dev/null

if [ "$PG_VIA" = tcp ]; then
	host=127.0.0.1
else
	host=$tmp
fi
export HOSTSALES_PG_DSN="host=$host port=$port user=postgres dbname=hostsales_bench sslmode=disable"

echo "== $(psql -d hostsales_bench -Atc 'SELECT version()')"
echo "== PostgreSQL on $host port $port: $(psql -d hostsales_bench -Atc "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes', 'shared_buffers', 'commit_delay', 'max_connections')")"
echo "== $(cd "$repo_root" && go version); $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //') x $(nproc)"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"

pattern='^(BenchmarkCreateReservation|BenchmarkCreateEndReservation|BenchmarkPostgresReservation|BenchmarkPostgresCreateEndReservation)$'
cmd=(go test -run '^$' -bench "$pattern" -benchtime "$BENCHTIME" -count "$COUNT" -timeout 60m ./reservations/)
echo "== HOSTSALES_PG_DSN='$HOSTSALES_PG_DSN' ${cmd[*]}"
(cd "$repo_root" && "${cmd[@]}") | tee "$out"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# Ratios: hostsales ops/s / PostgreSQL ops/s, means over -count runs.
awk '
/^Benchmark/ && / ops\/s/ {
	name = $1
	sub(/-[0-9]+$/, "", name)
	for (i = 2; i <= NF; i++) if ($i == "ops/s") { sum[name] += $(i - 1); n[name]++ }
}
function mean(k) { return n[k] ? sum[k] / n[k] : 0 }
function row(what, ours, peer, sub_, target,    a, p, r, verdict) {
	a = mean(ours "/" sub_); p = mean(peer "/" sub_)
	if (a == 0 || p == 0) { printf "%-22s %-26s  missing result\n", what, sub_; bad = 1; return }
	r = a / p
	verdict = r >= target ? "ok" : "BELOW TARGET"
	printf "%-22s %-26s %12.0f %12.0f %8.2fx   >= %gx  %s\n", what, sub_, a, p, r, target, verdict
}
END {
	print ""
	printf "%-22s %-26s %12s %12s %9s\n", "benchmark", "case", "hostsales", "postgres", "ratio"
	row("create",     "BenchmarkCreateReservation",    "BenchmarkPostgresReservation",          "durable=true/callers=32", 2.5)
	row("create",     "BenchmarkCreateReservation",    "BenchmarkPostgresReservation",          "durable=false/callers=1", 20)
	row("create+end", "BenchmarkCreateEndReservation", "BenchmarkPostgresCreateEndReservation", "durable=true/callers=32", 2.5)
	row("create+end", "BenchmarkCreateEndReservation", "BenchmarkPostgresCreateEndReservation", "durable=false/callers=1", 20)
	a = mean("BenchmarkCreateEndReservation/durable=true/callers=32")
	printf "\ncreate+end durable, 32 callers: %.0f ops/s (target >= 10000: %s)\n", a, (a >= 10000 ? "ok" : "BELOW TARGET")
	exit bad
}' "$out"
