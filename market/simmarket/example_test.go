package simmarket_test

import (
	"context"
	"fmt"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/market/simmarket"
)

// A client requests storage, one host fills every slot, proves, and is paid
// when the request finishes.
func Example() {
	ctx := context.Background()
	m, _ := simmarket.New(&simmarket.Options{Seed: 1, Start: 1_000_000, NoValidator: true})
	client, host := market.Address{0xc1}, market.Address{0x40}
	m.Mint(client, *uint256.NewInt(1_000_000))
	m.Mint(host, *uint256.NewInt(1_000_000))

	m.Observe(func(r simmarket.Record) {
		if _, isTransfer := r.Event.(simmarket.Transfer); !isTransfer && r.Event.EventName() != "ProofSubmitted" {
			fmt.Println(r.Time, r.Event.EventName())
		}
	})

	req := market.StorageRequest{
		Client: client,
		Ask: market.StorageAsk{
			ProofProbability:      *uint256.NewInt(1),
			PricePerBytePerSecond: *uint256.NewInt(1),
			CollateralPerByte:     *uint256.NewInt(2),
			Slots:                 2,
			SlotSize:              10,
			Duration:              1000,
		},
		Content: market.StorageContent{CID: "zExample"},
		Expiry:  300,
	}
	id, err := m.RequestStorage(ctx, client, req)
	if err != nil {
		panic(err)
	}

	var mk market.Market = m.As(host)
	for i := range uint64(2) {
		coll, _ := mk.SlotCollateral(ctx, id, i)
		_ = mk.ReserveSlot(ctx, id, i)
		if err := mk.FillSlot(ctx, id, i, market.Proof("proof"), coll); err != nil {
			panic(err)
		}
	}
	// Prove one second into every period while the request runs.
	per, _ := mk.Periodicity(ctx)
	for t := per.PeriodEnd(per.PeriodOf(1_000_000)) + 1; t < 1_001_000; t += int64(per.Seconds) {
		_ = m.Clock().Set(t)
		for i := range uint64(2) {
			sid := market.SlotIDFor(id, i)
			is, _ := mk.IsProofRequired(ctx, sid)
			will, _ := mk.WillProofBeRequired(ctx, sid)
			if is || will {
				_ = mk.SubmitProof(ctx, sid, market.Proof("proof"))
			}
		}
	}
	_ = m.Clock().Set(1_001_001)
	state, _ := mk.RequestState(ctx, id)
	for i := range uint64(2) {
		_ = mk.FreeSlot(ctx, market.SlotIDFor(id, i))
	}
	host1 := m.BalanceOf(host)
	client1 := m.BalanceOf(client)
	fmt.Println(state, "host", host1.Dec(), "client", client1.Dec())
	// Output:
	// 1000000 StorageRequested
	// 1000000 SlotFilled
	// 1000000 SlotFilled
	// 1000000 RequestFulfilled
	// Finished host 1020000 client 980000
}
