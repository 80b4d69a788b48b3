// Command storagenode is the reference storage node that links hostsales
// in. `go run ./cmd/storagenode` starts a node on the embedded default: a
// durable badger repo in ./hostsales-data (--data-dir, HOSTSALES_DATA_DIR),
// a byte quota (--quota, human units), the simulated market (a steady
// stream of client requests and a few competing hosts) on a clock that runs
// faster than real time, one availability taking most of the quota, the
// operator's REST API and Prometheus metrics on 127.0.0.1:8080
// (--api-addr; any address that is not loopback needs the bearer token the
// node writes to <data-dir>/api-token). It logs with log/slog (--json for
// JSON) and shuts down cleanly on SIGINT or SIGTERM: the API stops taking
// requests, the sales stop, the repo closes, nothing acknowledged is lost.
//
// The node uses exactly the embedding API a real node would (see the
// Example in package sales); cmd/salesctl talks to its API.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "storagenode:", err)
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if _, ok := err.(usageError); ok {
		return 2
	}
	return 1
}

var _ io.Writer = os.Stdout
