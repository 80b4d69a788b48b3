package simmarket

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hostsales/hostsales/market"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// prove makes host submit a proof one second into every period for each
// of its slots that needs one, like the sales Proving state, until stop
// is closed over.
func prove(m *Market, host market.Address) {
	c := m.As(host)
	var tick func()
	tick = func() {
		slots, _ := c.MySlots(bg)
		for _, sid := range slots {
			is, _ := c.IsProofRequired(bg, sid)
			will, _ := c.WillProofBeRequired(bg, sid)
			if is || will {
				_ = c.SubmitProof(bg, sid, proof)
			}
		}
		if len(slots) > 0 {
			now := m.Clock().Now()
			m.Clock().AfterFunc(per.PeriodEnd(per.PeriodOf(now))+1, tick)
		}
	}
	m.Clock().AfterFunc(per.PeriodEnd(per.PeriodOf(m.Clock().Now()))+1, tick)
}

// compact drops ProofSubmitted events, which depend on the challenges, and
// collapses repeats: "SlotFilled×4".
func compact(names []string) []string {
	var out []string
	count := 0
	for i, n := range names {
		if n == "ProofSubmitted" {
			continue
		}
		count++
		if i+1 < len(names) && nextNonProof(names[i+1:]) == n {
			continue
		}
		if count > 1 {
			n += "×" + strconv.Itoa(count)
		}
		out = append(out, n)
		count = 0
	}
	return out
}

func nextNonProof(names []string) string {
	for _, n := range names {
		if n != "ProofSubmitted" {
			return n
		}
	}
	return ""
}

// Reference: MARKET.md §6, §3: the event sequence of a full request
// lifecycle with a validator and a withdrawing client.
func TestLifecycleEventSequence(t *testing.T) {
	m := newMarket(t, &Options{Start: t0})
	rec := record(m)
	id := submit(t, m)
	hosts := []market.Address{host1, host2, host3, host4}
	for i, h := range hosts {
		setTime(t, m, t0+100*int64(i+1))
		fill(t, m, h, id, uint64(i))
		if i == 0 {
			prove(m, h)
		}
	}
	for _, h := range hosts[1:] {
		prove(m, h)
	}
	setTime(t, m, t0+36001)
	for i, h := range hosts {
		require.NoError(t, m.As(h).FreeSlot(bg, market.SlotIDFor(id, uint64(i))))
	}
	assert.Equal(t, []string{
		"Transfer", "StorageRequested", // client pays maxPrice
		"Transfer", "SlotFilled", "Transfer", "SlotFilled", "Transfer", "SlotFilled",
		"Transfer", "SlotFilled", "RequestFulfilled",
		// At endsAt + 1 the client withdraws its remainder, then each host
		// collects its reward and collateral.
		"Transfer×9",
	}, compact(rec.events(true)))
	assert.NotContains(t, rec.events(true), "SlotFreed", "proving hosts are never slashed")
	assert.Equal(t, uint64(1<<62)-143_000*p, balance(m, client), "the client paid 144,000 p and got 1,000 p back")
	assert.Equal(t, uint64(1<<62)+(36000-100)*p, balance(m, host1))
	assert.Equal(t, uint64(1<<62)+(36000-400)*p, balance(m, host4))
	assert.True(t, ptr(m.BalanceOf(MarketAddress)).IsZero(), "everything paid out")
	require.NoError(t, m.CheckInvariants())
}

// Reference: MARKET.md §2.1, §3.8: a request that does not start is
// cancelled at expiry; its client withdraws at once, which emits
// RequestCancelled.
func TestCancelAtExpiry(t *testing.T) {
	m := newMarket(t, &Options{Start: t0})
	rec := record(m)
	var cancelledAt int64
	_, err := m.As(host1).SubscribeRequestCancelled(bg, func(market.RequestCancelled) { cancelledAt = m.Clock().Now() })
	require.NoError(t, err)
	id := submit(t, m)
	fill(t, m, host1, id, 0)
	prove(m, host1) // or the validator would free the slot
	setTime(t, m, t0+3600)
	assert.Zero(t, cancelledAt)
	require.NoError(t, m.Clock().Advance(10))
	assert.Equal(t, int64(t0+3601), cancelledAt, "at the first second the request is Cancelled")
	assert.Equal(t, []string{"RequestCancelled", "Transfer"}, rec.events(true)[len(rec.events(true))-2:])
	st, _ := m.As(host1).SlotState(bg, market.SlotIDFor(id, 0))
	assert.Equal(t, market.SlotStateCancelled, st)
	require.NoError(t, m.As(host1).FreeSlot(bg, market.SlotIDFor(id, 0)))
	assert.Equal(t, uint64(1<<62)+3600*p, balance(m, host1))

	// CancelRequest forces the expiry now.
	id2 := submit(t, m, withNonce(9))
	require.NoError(t, m.CancelRequest(bg, id2))
	exp, _ := m.As(host1).RequestExpiresAt(bg, id2)
	assert.Equal(t, m.Clock().Now(), exp)
	require.NoError(t, m.Clock().Advance(1))
	st2, _ := m.As(host1).RequestState(bg, id2)
	assert.Equal(t, market.RequestStateCancelled, st2)
	assert.Equal(t, "RequestCancelled", rec.events(false)[len(rec.events(false))-1])
	assert.ErrorIs(t, m.CancelRequest(bg, id2), ErrCannotForce)
}

// Reference: MARKET.md §3.6, §3.7: the validator marks missed proofs; the
// second mark frees the slot; a competitor repairs it at a discount.
func TestValidatorSlashesAndCompetitorRepairs(t *testing.T) {
	rival := market.Address{0xcc}
	m := newMarket(t, &Options{Start: t0, Competitors: []Competitor{{Address: rival, TakeProbability: 1, FillDelay: 0}}})
	rec := record(m)
	id := submit(t, m, everyPeriod())
	// The rival takes every slot at the next clock move; our host reserves
	// first and fills slot 0 before it.
	fill(t, m, host1, id, 0)
	require.NoError(t, m.Clock().Advance(1))
	ri, _ := m.RequestInfo(id)
	require.Equal(t, market.RequestStateStarted, ri.State, "the rival filled the other slots")
	sid := market.SlotIDFor(id, 0)

	// host1 never proves: the validator marks it twice, the slot is freed,
	// and the rival refills it.
	for m.SlotInfo(sid).Host == host1 {
		require.True(t, m.Clock().Step())
	}
	assert.Equal(t, uint64(2*42_949_672), balance(m, DefaultValidator))
	assert.Contains(t, rec.events(false), "SlotFreed")
	for m.SlotInfo(sid).Host != rival {
		require.True(t, m.Clock().Step())
	}
	assert.Equal(t, market.SlotStateFilled, m.SlotInfo(sid).State)
	assert.NotContains(t, rec.events(false), "RequestFailed")

	// The rival proves; it is never slashed, and gets paid at the end.
	require.NoError(t, m.Clock().Set(t0+36001+1))
	for i := uint64(0); i < 4; i++ {
		assert.Equal(t, market.SlotStatePaid, m.SlotInfo(market.SlotIDFor(id, i)).State, "slot %d", i)
	}
	assert.Equal(t, uint64(1), countOf(rec.events(false), "SlotFreed"), "only host1's slot was freed")
	require.NoError(t, m.CheckInvariants())
}

func countOf(names []string, name string) uint64 {
	var n uint64
	for _, x := range names {
		if x == name {
			n++
		}
	}
	return n
}

// Reference: MARKET.md §3.7, §10.20: a request fails after too many lost
// slots; FailRequest reaches it through forced releases.
func TestFailRequest(t *testing.T) {
	m := newMarket(t, &Options{Start: t0, NoValidator: true})
	rec := record(m)
	var failed []market.RequestID
	_, err := m.As(host1).SubscribeRequestFailed(bg, func(e market.RequestFailed) { failed = append(failed, e.RequestID) })
	require.NoError(t, err)
	id := submit(t, m)
	for i, h := range []market.Address{host1, host2, host3, host4} {
		fill(t, m, h, id, uint64(i))
	}
	setTime(t, m, t0+1000)
	rec.reset()
	require.NoError(t, m.FailRequest(bg, id, host1))
	assert.Equal(t, []market.RequestID{id}, failed)
	assert.Equal(t, []string{"SlotFreed", "SlotFreed", "SlotFreed", "RequestFailed"}, rec.events(false))
	assert.Equal(t, host1, m.SlotInfo(market.SlotIDFor(id, 0)).Host, "the spared host keeps its slot")
	require.NoError(t, m.Clock().Advance(1))
	assert.Equal(t, "Transfer", rec.events(true)[len(rec.events(true))-1], "the client withdrew maxPrice")
	assert.ErrorIs(t, m.FailRequest(bg, id), ErrCannotForce)
	assert.ErrorIs(t, m.FailRequest(bg, submit(t, m, withNonce(5))), ErrCannotForce, "New")
}

// Reference: MARKET.md §3.3: TakeSlot lets a competitor fill first.
func TestTakeSlot(t *testing.T) {
	m := newMarket(t, quiet())
	id := submit(t, m)
	rival := market.Address{0xcc}
	require.NoError(t, m.As(host1).ReserveSlot(bg, id, 2))
	require.NoError(t, m.TakeSlot(bg, rival, id, 2))
	assert.Equal(t, rival, m.SlotInfo(market.SlotIDFor(id, 2)).Host)
	assert.Equal(t, uint64(0), balance(m, rival), "its collateral was minted")
	err := m.As(host1).FillSlot(bg, id, 2, proof, u(p))
	assert.ErrorIs(t, err, market.ErrSlotStateMismatch)
	assert.ErrorIs(t, m.TakeSlot(bg, rival, id, 2), market.ErrSlotNotFree, "it already holds a reservation")
}

// runScenario runs a busy market from a seed and returns its trace.
func runScenario(t *testing.T, seed uint64) string {
	t.Helper()
	m, err := New(&Options{
		Seed:  seed,
		Start: t0,
		Competitors: []Competitor{
			{Address: market.Address{0xc1}, TakeProbability: 0.6, ReserveDelay: 5, FillDelay: 30, MissProofProbability: 0.3},
			{Address: market.Address{0xc2}, TakeProbability: 0.5, FillDelay: 200, AbandonProbability: 0.01},
			{Address: market.Address{0xc3}, TakeProbability: 0.4, ReserveDelay: 10, FillDelay: 100, MissProofProbability: 0.05},
		},
	})
	require.NoError(t, err)
	rec := record(m)
	clients := []market.Address{{0xd1}, {0xd2}, {0xd3}}
	for _, c := range clients {
		m.Mint(c, big)
	}
	for i := range 15 {
		c := clients[i%len(clients)]
		m.Clock().AfterFunc(t0+int64(i)*700, func() {
			req := m.RandomRequest(c, RequestGen{MaxDuration: 6 * 3600})
			_, _ = m.As(c).RequestStorage(bg, req)
		})
	}
	require.NoError(t, m.Clock().Set(t0+2*86400))
	require.NoError(t, m.CheckInvariants())
	return rec.trace()
}

// Reference: DESIGN.md, Determinism: the same seed gives the same trace.
func TestDeterminism(t *testing.T) {
	a := runScenario(t, 42)
	b := runScenario(t, 42)
	require.Equal(t, a, b)
	c := runScenario(t, 43)
	assert.NotEqual(t, a, c)
	for _, ev := range []string{"StorageRequested", "SlotFilled", "RequestFulfilled", "SlotFreed", "RequestCancelled", "SlotReservationsFull", "validatorReward"} {
		assert.Contains(t, a+c, ev, "the busy scenario exercises %s", ev)
	}
	t.Logf("trace of %d records", strings.Count(a, "\n"))
}

func TestFaults(t *testing.T) {
	m := newMarket(t, quiet())
	id := submit(t, m)
	require.NoError(t, m.InjectFault(Fault{Method: "FillSlot", Nth: 2}))
	require.NoError(t, m.InjectFault(Fault{Method: "GetRequest", Caller: host2, Probability: 1, Err: market.ErrUnknownRequest}))

	fill(t, m, host1, id, 0) // FillSlot call 1
	require.NoError(t, m.As(host1).ReserveSlot(bg, id, 1))
	rec := record(m)
	err := m.As(host1).FillSlot(bg, id, 1, proof, u(p)) // call 2
	assert.ErrorIs(t, err, ErrInjected)
	assert.ErrorIs(t, err, market.ErrMarket)
	assert.Empty(t, rec.events(true), "an injected fault does nothing")
	assert.Equal(t, market.SlotStateFree, m.SlotInfo(market.SlotIDFor(id, 1)).State)
	require.NoError(t, m.As(host1).FillSlot(bg, id, 1, proof, u(p)), "call 3")

	_, err = m.As(host2).GetRequest(bg, id)
	assert.ErrorIs(t, err, market.ErrUnknownRequest, "a chosen error, for one caller")
	_, err = m.As(host1).GetRequest(bg, id)
	assert.NoError(t, err)

	_, err = m.As(host1).SubscribeSlotFilled(bg, func(market.SlotFilled) {})
	assert.NoError(t, err)
	require.NoError(t, m.InjectFault(Fault{Method: "SubscribeSlotFilled", Nth: 1}))
	_, err = m.As(host1).SubscribeSlotFilled(bg, func(market.SlotFilled) {})
	assert.ErrorIs(t, err, ErrInjected)

	m.ClearFaults()
	_, err = m.As(host2).GetRequest(bg, id)
	assert.NoError(t, err)
	assert.ErrorIs(t, m.InjectFault(Fault{Method: "X"}), ErrInvalidOptions)

	ctx, cancel := context.WithCancel(bg)
	cancel()
	_, err = m.As(host1).GetRequest(ctx, id)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestProbabilisticFaultsAreSeeded(t *testing.T) {
	run := func(seed uint64) (fails int, pattern string) {
		m, err := New(&Options{Seed: seed, Faults: []Fault{{Method: "SlotState", Probability: 0.3}}})
		require.NoError(t, err)
		for range 1000 {
			_, err := m.As(host1).SlotState(bg, market.SlotID{})
			if err != nil {
				fails++
				pattern += "x"
			} else {
				pattern += "."
			}
		}
		return fails, pattern
	}
	n, a := run(7)
	_, b := run(7)
	assert.Equal(t, a, b)
	assert.InDelta(t, 300, n, 60)
}

// Faults never affect the simulated actors.
func TestFaultsSpareActors(t *testing.T) {
	rival := market.Address{0xcc}
	m := newMarket(t, &Options{
		Start:       t0,
		Competitors: []Competitor{{Address: rival, TakeProbability: 1}},
		Faults:      []Fault{{Probability: 1}},
	})
	id, err := m.As(client).RequestStorage(bg, exampleRequest())
	require.ErrorIs(t, err, ErrInjected)
	id, err = m.RequestStorage(bg, client, exampleRequest())
	require.ErrorIs(t, err, ErrInjected)
	m.ClearFaults()
	id = submit(t, m)
	require.NoError(t, m.InjectFault(Fault{Probability: 1}))
	require.NoError(t, m.Clock().Advance(1))
	ri, _ := m.RequestInfo(id)
	assert.Equal(t, market.RequestStateStarted, ri.State)
}

// Synchronous delivery: callbacks may call back into the market; events
// arrive in commit order, one callback at a time.
func TestDeliverySyncReentrant(t *testing.T) {
	m := newMarket(t, quiet())
	var seqs []uint64
	m.Observe(func(r Record) { seqs = append(seqs, r.Seq) })
	var got []string
	_, err := m.As(host1).SubscribeRequests(bg, func(e market.StorageRequested) {
		got = append(got, "requested")
		// Re-enter: take a slot from inside the callback.
		require.NoError(t, m.TakeSlot(bg, host1, e.RequestID, 0))
		got = append(got, "took")
	})
	require.NoError(t, err)
	_, err = m.As(host1).SubscribeSlotFilled(bg, func(market.SlotFilled) { got = append(got, "filled") })
	require.NoError(t, err)
	submit(t, m)
	assert.Equal(t, []string{"requested", "took", "filled"}, got, "nested events come after the callback returns")
	for i := 1; i < len(seqs); i++ {
		assert.Equal(t, seqs[i-1]+1, seqs[i], "in commit order")
	}
	assert.Zero(t, m.Pending())
}

func TestDeliveryQueued(t *testing.T) {
	o := quiet()
	o.Delivery = DeliverQueued
	m := newMarket(t, o)
	var got []string
	_, err := m.As(host1).SubscribeSlotFilled(bg, func(e market.SlotFilled) { got = append(got, "filled") })
	require.NoError(t, err)
	sub, err := m.As(host1).SubscribeFulfillment(bg, func(market.RequestFulfilled) { got = append(got, "fulfilled") })
	require.NoError(t, err)
	id := submit(t, m)
	for i := uint64(0); i < 4; i++ {
		fill(t, m, host1, id, i)
	}
	assert.Empty(t, got, "nothing until Deliver")
	assert.Positive(t, m.Pending())
	sub.Unsubscribe()
	sub.Unsubscribe()
	assert.Equal(t, m.Pending(), m.Deliver())
	assert.Equal(t, []string{"filled", "filled", "filled", "filled"}, got, "no delivery after Unsubscribe")
	assert.Zero(t, m.Deliver())
}

func TestUnsubscribeInsideCallbackAndPanics(t *testing.T) {
	m := newMarket(t, quiet())
	calls := 0
	var sub market.Subscription
	sub, err := m.As(host1).SubscribeSlotFilled(bg, func(market.SlotFilled) {
		calls++
		sub.Unsubscribe()
	})
	require.NoError(t, err)
	id := submit(t, m)
	fill(t, m, host1, id, 0)
	fill(t, m, host1, id, 1)
	assert.Equal(t, 1, calls)

	boom := m.Observe(func(Record) { panic("boom") })
	assert.Panics(t, func() { fill(t, m, host1, id, 2) })
	boom.Unsubscribe()
	m.Deliver()
	seen := 0
	m.Observe(func(Record) { seen++ })
	fill(t, m, host1, id, 3)
	assert.Positive(t, seen, "a panicking callback does not wedge delivery")

	_, err = m.As(host1).SubscribeSlotFreed(bg, nil)
	assert.ErrorIs(t, err, ErrInvalidOptions)
}

// Many goroutines act on one market while the clock moves; run with -race.
func TestConcurrentUse(t *testing.T) {
	m := newMarket(t, &Options{Start: t0, Competitors: []Competitor{{Address: market.Address{0xcc}, TakeProbability: 0.5, FillDelay: 3}}})
	var mu sync.Mutex
	var last uint64
	inOrder := true
	m.Observe(func(r Record) {
		mu.Lock()
		defer mu.Unlock()
		if last != 0 && r.Seq != last+1 {
			inOrder = false
		}
		last = r.Seq
	})
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			host := market.Address{0xe0, byte(g)}
			m.Mint(host, big)
			c := m.As(host)
			for i := range 30 {
				req := exampleRequest()
				req.Client = host
				req.Nonce[0], req.Nonce[1] = byte(g), byte(i)
				id, err := c.RequestStorage(bg, req)
				if err != nil {
					continue
				}
				_ = m.TakeSlot(bg, host, id, uint64(i%4))
				_, _ = c.MySlots(bg)
				_, _ = c.SlotState(bg, market.SlotIDFor(id, 0))
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			_ = m.Clock().Advance(60)
		}
	}()
	wg.Wait()
	m.Deliver()
	require.NoError(t, m.CheckInvariants())
	mu.Lock()
	defer mu.Unlock()
	assert.True(t, inOrder, "records are delivered one at a time in commit order")
}

// Reference: MARKET.md §3.3 QUIRK: a competitor that cannot repair in the
// period of the previous host's proof tries again in the next period.
func TestCompetitorRepairRetriesNextPeriod(t *testing.T) {
	rival := market.Address{0xcc}
	o := quiet()
	o.Competitors = []Competitor{{Address: rival, TakeProbability: 1}}
	m := newMarket(t, o)
	id := submit(t, m)
	fill(t, m, host1, id, 0) // before the rival's timers run
	sid := market.SlotIDFor(id, 0)
	require.NoError(t, m.As(host1).FreeSlot(bg, sid))
	require.NoError(t, m.Clock().Advance(0)) // the rival's reservation and first try run now
	assert.Equal(t, market.SlotStateRepair, m.SlotInfo(sid).State, "the first try hit ProofAlreadySubmitted")
	require.NoError(t, m.Clock().Set(per.PeriodEnd(per.PeriodOf(t0))+1))
	assert.Equal(t, rival, m.SlotInfo(sid).Host, "filled in the next period")
}
