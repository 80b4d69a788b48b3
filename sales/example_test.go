package sales_test

import (
	"context"
	"fmt"
	"os"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/market/simmarket"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/sales"
	"github.com/hostsales/hostsales/sim"
	"github.com/hostsales/hostsales/statemachine"
)

// Example links hostsales into a node, as cmd/storagenode does: open the
// repo, open the reservations over it, declare what is for sale, start
// Sales with the node's market and callbacks, and stop it all in reverse.
// The market here is simmarket; a real node passes its chain client.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "hostsales-example")
	defer os.RemoveAll(dir)

	chain, _ := simmarket.New(&simmarket.Options{Seed: 1, Start: 1_700_000_000, NoValidator: true})
	host, client := market.Address{0x40}, market.Address{0xc1}
	chain.Mint(host, *uint256.NewInt(1 << 40))
	chain.Mint(client, *uint256.NewInt(1 << 40))

	// The repo: badger in dir, durable, with the node's byte quota.
	repo, err := repostore.Open(dir, &repostore.Options{QuotaMaxBytes: 1 << 30, Now: chain.Clock().Now})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer repo.Close()
	res, err := reservations.New(ctx, repo, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	// What the operator sells: 100 MiB for up to a day, at least 1 per
	// byte and second, with a collateral budget.
	_, err = res.CreateAvailability(ctx, reservations.Availability{TotalSize: 100 << 20, Duration: 24 * 3600,
		MinPricePerBytePerSecond: *uint256.NewInt(1), TotalCollateral: *uint256.NewInt(1 << 30), Enabled: true})
	if err != nil {
		fmt.Println(err)
		return
	}

	// A node leaves Executor nil (sales runs on goroutines). The example
	// uses sim's concurrent executor only to know when every sale waits on
	// market time, so that it can advance the simulated chain without
	// sleeping.
	exec := sim.NewConcurrentExecutor()
	s, err := sales.New(sales.Deps{Market: chain.As(host), Clock: sim.NewClock(chain.Clock(), exec), Reservations: res},
		&sales.Options{
			Callbacks: sales.Callbacks{
				// OnStore fetches the slot's data and hands it over in batches.
				OnStore: func(ctx context.Context, req market.StorageRequest, _ int64, slot uint64, store sales.StoreFunc, _ bool) error {
					return store(ctx, [][]byte{make([]byte, req.Ask.SlotSize)})
				},
				OnProve: func(context.Context, market.Slot, market.Challenge) (market.Proof, error) {
					return market.Proof("proof"), nil
				},
				OnExpiryUpdate: func(context.Context, string, int64) error { return nil },
			},
			MaxWorkers: 3,
			Executor:   exec,
			OnTransition: func(_ market.RequestID, slot uint64, from, to statemachine.State, _ statemachine.Event) {
				if to == sales.StateFilled || to == sales.StateFinished {
					fmt.Println("slot", slot, to)
				}
			},
		})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := s.Start(ctx); err != nil { // restore, cleanup, queue, subscriptions
		fmt.Println(err)
		return
	}

	// A client asks for one slot of 64 KiB for an hour.
	_, err = chain.RequestStorage(ctx, client, market.StorageRequest{Client: client, Ask: market.StorageAsk{
		ProofProbability: *uint256.NewInt(1), PricePerBytePerSecond: *uint256.NewInt(1),
		CollateralPerByte: *uint256.NewInt(1), Slots: 1, SlotSize: 64 << 10, Duration: 3600},
		Content: market.StorageContent{CID: "zExample"}, Expiry: 600})
	if err != nil {
		fmt.Println(err)
		return
	}
	for {
		exec.Quiesce() // every sale waits on market time
		if len(s.Agents()) == 0 {
			break
		}
		chain.Clock().Step() // the chain moves on
	}
	if err := s.Stop(ctx); err != nil { // waits for every goroutine; nothing half-written
		fmt.Println(err)
	}
	exec.Quiesce()
	a := res.Availabilities()[0]
	fmt.Println("free again:", a.FreeSize == a.TotalSize)
	// Output:
	// slot 0 SaleFilled
	// slot 0 SaleFinished
	// free again: true
}
