// Command storagenode is the reference storage node that links hostsales
// in. `go run ./cmd/storagenode` starts a node on the embedded default: a
// badger repo in ./hostsales-data, the simulated market (a steady stream of
// client requests and a few competing hosts) on a clock that runs faster
// than real time, and one availability taking most of the quota. It logs
// what it sells and shuts down cleanly on SIGINT or SIGTERM.
//
// The operator's REST API and salesctl come with the operator-node work;
// this binary already uses exactly the embedding API a real node would.
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
