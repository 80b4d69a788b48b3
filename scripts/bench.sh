#!/usr/bin/env bash
# bench.sh: every named benchmark of BENCHMARKS.md, in one run, on this
# machine. The PostgreSQL peer has its own script (bench-postgres.sh).
#
# Environment:
#   QUICK=1   shorter runs (1x for the million-item ones), for a smoke test
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

t=${BENCHTIME:-2s}
big=1x
echo "== $(go version); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(nproc) cores"
set -x
go test -run '^$' -bench '^(BenchmarkRawBadgerTxn|BenchmarkPipeline)$' -benchtime "$t" ./repostore/
go test -run '^$' -bench '^BenchmarkPushPop$' -benchtime 3x ./slotqueue/
go test -run '^$' -bench '^BenchmarkPushFull$' -benchtime 1s ./slotqueue/
go test -run '^$' -bench '^(BenchmarkCreateReservation|BenchmarkCreateEndReservation|BenchmarkFindAvailability|BenchmarkDistinctAvailabilities)$' -benchtime "$t" ./reservations/
go test -run '^$' -bench '^BenchmarkCreateReservationScale$' -benchtime "$t" -timeout 60m ./reservations/
go test -run '^$' -bench '^BenchmarkSaleLifecycle$' -benchtime 8000x ./sales/
go test -run '^$' -bench '^BenchmarkRestore$' -benchtime "$big" -timeout 60m ./sales/
