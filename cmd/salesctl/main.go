// Command salesctl is the node operator's command line: it manages
// availabilities and shows reservations, slots, the slot queue and the
// repo's space through a running node's REST API (package api), and checks
// (and repairs) a stopped node's repo offline with fsck.
//
//	salesctl availability create --size 10GiB --duration 30d --min-price 1 --collateral 1000000
//	salesctl availability list
//	salesctl reservations list --availability 0x…
//	salesctl slots log 0x…
//	salesctl fsck --data-dir ./hostsales-data [--repair]
//
// The node's address comes from --api (env HOSTSALES_API, default
// http://127.0.0.1:8080) and its token from --token (env
// HOSTSALES_API_TOKEN) or from the api-token file in --data-dir (env
// HOSTSALES_DATA_DIR, default ./hostsales-data). --json prints the API's
// JSON instead of tables.
//
// Exit codes: 0 success; 1 a failure (the API refused, the node is
// unreachable, fsck found problems); 2 a usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
