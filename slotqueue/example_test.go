package slotqueue_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/hostsales/hostsales/slotqueue"
)

// A request with three slots and a better-paying request with one, pushed in
// one call into a queue with a single worker: the better request goes first,
// then the three slots in the order the seeded shuffle gave them.
func Example() {
	var mu sync.Mutex
	var order []string
	done := make(chan struct{})
	process := func(ctx context.Context, it slotqueue.Item) error {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, fmt.Sprintf("request %x slot %d", it.RequestID[0], it.SlotIndex))
		if len(order) == 4 {
			close(done)
		}
		return nil
	}
	q, err := slotqueue.New(process, &slotqueue.Options{MaxWorkers: 1, MaxSize: 16})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := q.Start(ctx); err != nil {
		panic(err)
	}

	var template slotqueue.Item
	template.RequestID[0] = 0xaa
	template.SlotSize, template.Duration = 1<<20, 3600
	template.PricePerBytePerSecond.SetUint64(2)
	template.Collateral.SetUint64(100)
	items, err := slotqueue.NewItems(template, 3, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		panic(err)
	}
	better := template
	better.RequestID[0] = 0xbb
	better.PricePerBytePerSecond.SetUint64(3)

	if err := q.Push(append(items, better)...); err != nil {
		panic(err)
	}
	<-done
	if err := q.Stop(ctx); err != nil {
		panic(err)
	}
	for _, s := range order {
		fmt.Println(s)
	}
	st := q.Stats()
	fmt.Printf("processed %d, queued %d, paused %v\n", st.Processed, st.Len, st.Paused)
	// Output:
	// request bb slot 0
	// request aa slot 1
	// request aa slot 0
	// request aa slot 2
	// processed 4, queued 0, paused false
}
