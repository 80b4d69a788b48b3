package market_test

import (
	"context"
	"fmt"
	"runtime"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
)

// Derive the ids of a request and its slots, and read its amounts.
func Example() {
	client, _ := market.ParseAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
	var root, nonce [32]byte
	for i := range root {
		root[i], nonce[i] = byte(i+1), 0x42
	}
	req := market.StorageRequest{
		Client: client,
		Ask: market.StorageAsk{
			ProofProbability:      *uint256.NewInt(4),
			PricePerBytePerSecond: *uint256.NewInt(1),
			CollateralPerByte:     *uint256.NewInt(1),
			Slots:                 4,
			SlotSize:              1 << 30,
			Duration:              36000,
			MaxSlotLoss:           2,
		},
		Content: market.StorageContent{CID: "zb2rhheVmk3bLks5MgzTqyznLu1zqGH5jrfTA1eAZXrjx7Vob", MerkleRoot: root},
		Expiry:  3600,
		Nonce:   nonce,
	}
	fmt.Println("request:", req.ID())
	fmt.Println("slot 0: ", market.SlotIDFor(req.ID(), 0))
	total := req.Ask.TotalPrice()
	coll := market.DefaultConfig().SlotCollateral(req.Ask.CollateralPerSlot(), market.SlotStateRepair)
	fmt.Println("total price:", total.Dec(), "repair collateral:", coll.Dec())
	// Output:
	// request: 0x03c09c7abe2230019968bef88d2835e6105125421a686feca7f0095ad40facaf
	// slot 0:  0xaa981912cacae1503aa01fecb1b67754893cc15ecb22fca6407913fb3c75ea50
	// total price: 154618822656000 repair collateral: 966367642
}

// Drive a virtual clock by hand: waiters and timers fire in time order.
func ExampleManualClock() {
	clock := market.NewManualClock(1000)
	clock.AfterFunc(1060, func() { fmt.Println("timer at", clock.Now()) })

	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := clock.WaitUntil(context.Background(), 1030); err == nil {
			fmt.Println("waiter woke")
		}
	}()
	for clock.Waiters() < 2 { // until the goroutine is parked on the clock
		runtime.Gosched()
	}
	next, _ := clock.NextDeadline()
	fmt.Println("next deadline", next)
	_ = clock.Set(1030)
	<-done
	_ = clock.Advance(100)
	fmt.Println("now", clock.Now())
	// Output:
	// next deadline 1030
	// waiter woke
	// timer at 1060
	// now 1130
}
