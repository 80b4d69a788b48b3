package simmarket

import (
	"testing"

	"github.com/holiman/uint256"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
)

// Reference: MARKET.md §3.1, §10.2: the checks of requestStorage, in order.
func TestRequestStorageChecks(t *testing.T) {
	tests := []struct {
		name   string
		caller market.Address
		modify func(*market.StorageRequest)
		want   error
	}{
		{"InvalidClientAddress before everything", host1, func(r *market.StorageRequest) { r.Expiry = 0; r.Ask.Slots = 0 }, market.ErrInvalidClientAddress},
		{"InvalidExpiry when expiry is 0", client, func(r *market.StorageRequest) { r.Expiry = 0; r.Ask.Slots = 0 }, market.ErrInvalidExpiry},
		{"InvalidExpiry when expiry equals duration", client, func(r *market.StorageRequest) { r.Expiry = r.Ask.Duration }, market.ErrInvalidExpiry},
		{"InvalidExpiry when duration is 0 (InsufficientDuration never reached)", client, func(r *market.StorageRequest) { r.Ask.Duration = 0 }, market.ErrInvalidExpiry},
		{"InsufficientSlots", client, func(r *market.StorageRequest) { r.Ask.Slots = 0; r.Ask.MaxSlotLoss = 5 }, market.ErrInsufficientSlots},
		{"InvalidMaxSlotLoss", client, func(r *market.StorageRequest) { r.Ask.MaxSlotLoss = 5; r.Ask.ProofProbability = uint256.Int{} }, market.ErrInvalidMaxSlotLoss},
		{"InsufficientProofProbability", client, func(r *market.StorageRequest) {
			r.Ask.ProofProbability = uint256.Int{}
			r.Ask.CollateralPerByte = uint256.Int{}
		}, market.ErrInsufficientProofProbability},
		{"InsufficientCollateral", client, func(r *market.StorageRequest) {
			r.Ask.CollateralPerByte = uint256.Int{}
			r.Ask.PricePerBytePerSecond = uint256.Int{}
		}, market.ErrInsufficientCollateral},
		{"InsufficientReward", client, func(r *market.StorageRequest) { r.Ask.PricePerBytePerSecond = uint256.Int{}; r.Content.CID = "" }, market.ErrInsufficientReward},
		{"InvalidCid", client, func(r *market.StorageRequest) { r.Content.CID = ""; r.Ask.Duration = 31 * 86400 }, market.ErrInvalidCid},
		{"DurationExceedsLimit", client, func(r *market.StorageRequest) { r.Ask.Duration = 30*86400 + 1 }, market.ErrDurationExceedsLimit},
		{"duration at the limit is allowed", client, func(r *market.StorageRequest) { r.Ask.Duration = 30 * 86400 }, nil},
		{"maxSlotLoss == slots is allowed", client, func(r *market.StorageRequest) { r.Ask.MaxSlotLoss = r.Ask.Slots }, nil},
		{"slotSize 0 is accepted", client, func(r *market.StorageRequest) { r.Ask.SlotSize = 0 }, nil},
		{"slots × duration above 64 bits reverts", client, func(r *market.StorageRequest) {
			r.Ask.Slots = 1 << 44
			r.Ask.MaxSlotLoss = 0
			r.Ask.Duration = 1 << 21
		}, market.ErrArithmetic},
		{"InsufficientBalance last", client, func(r *market.StorageRequest) { r.Ask.PricePerBytePerSecond = u(1 << 40) }, market.ErrInsufficientBalance},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMarket(t, quiet())
			rec := record(m)
			req := exampleRequest()
			tt.modify(&req)
			before := m.BalanceOf(client)
			id, err := m.As(tt.caller).RequestStorage(bg, req)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
				assert.Equal(t, before, m.BalanceOf(client), "nothing paid")
				assert.Empty(t, rec.events(true), "nothing emitted")
				_, err := m.RequestInfo(id)
				assert.ErrorIs(t, err, market.ErrUnknownRequest, "nothing stored")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, req.ID(), id)
		})
	}
}

// Reference: MARKET.md §3.1, §10.2, §10.3.
func TestRequestStorageEffects(t *testing.T) {
	m := newMarket(t, quiet())
	rec := record(m)
	c := m.As(client)
	req := exampleRequest()
	id, err := c.RequestStorage(bg, req)
	require.NoError(t, err)

	spent := big
	spent.Sub(&spent, ptr(m.BalanceOf(client)))
	assert.Equal(t, "154618822656000", spent.Dec(), "exactly maxPrice taken")
	assert.Equal(t, []string{"Transfer", "StorageRequested"}, rec.events(true))
	ev := rec.recs[1].Event.(market.StorageRequested)
	assert.Equal(t, int64(t0+3600), ev.ExpiresAt, "the event carries the absolute expiry")
	assert.Equal(t, req.Ask, ev.Ask)

	got, err := c.GetRequest(bg, id)
	require.NoError(t, err)
	assert.Equal(t, uint64(3600), got.Expiry, "getRequest keeps the relative expiry")
	exp, err := c.RequestExpiresAt(bg, id)
	require.NoError(t, err)
	assert.Equal(t, int64(t0+3600), exp)
	mine, err := c.MyRequests(bg)
	require.NoError(t, err)
	assert.Equal(t, []market.RequestID{id}, mine)

	_, err = c.RequestStorage(bg, req)
	assert.ErrorIs(t, err, market.ErrRequestAlreadyExists)

	poor := market.Address{0x77}
	req.Client, req.Nonce[0] = poor, 1
	_, err = m.As(poor).RequestStorage(bg, req)
	assert.ErrorIs(t, err, market.ErrInsufficientBalance)
}

func ptr[T any](v T) *T { return &v }

// Reference: MARKET.md §2.1, §10.4: boundaries are strict and need no
// transaction.
func TestRequestStateBoundaries(t *testing.T) {
	m := newMarket(t, quiet())
	c := m.As(client)
	unstarted := submit(t, m)
	started := submit(t, m, withNonce(2))
	for i := uint64(0); i < 4; i++ {
		fill(t, m, host1, started, i)
	}
	state := func(id market.RequestID) market.RequestState {
		s, err := c.RequestState(bg, id)
		require.NoError(t, err)
		return s
	}
	setTime(t, m, t0+3600)
	assert.Equal(t, market.RequestStateNew, state(unstarted), "New at now == expiresAt")
	setTime(t, m, t0+3601)
	assert.Equal(t, market.RequestStateCancelled, state(unstarted), "Cancelled at expiresAt + 1")
	setTime(t, m, t0+36000)
	assert.Equal(t, market.RequestStateStarted, state(started), "Started at now == endsAt")
	assert.Equal(t, market.RequestStateCancelled, state(unstarted), "never Finished")
	setTime(t, m, t0+36001)
	assert.Equal(t, market.RequestStateFinished, state(started), "Finished at endsAt + 1")

	_, err := c.RequestState(bg, market.RequestID{1})
	assert.ErrorIs(t, err, market.ErrUnknownRequest)
}

func withNonce(n byte) market.StorageRequest {
	r := exampleRequest()
	r.Nonce[0] = n
	return r
}

// Reference: MARKET.md §2.3, §10.5.
func TestRequestEnd(t *testing.T) {
	m := newMarket(t, quiet())
	c := m.As(client)
	end := func(id market.RequestID) int64 {
		e, err := c.GetRequestEnd(bg, id)
		require.NoError(t, err)
		return e
	}
	cancelled := submit(t, m)
	finished := submit(t, m, withNonce(2))
	failed := submit(t, m, withNonce(3))
	for i := uint64(0); i < 4; i++ {
		fill(t, m, host1, finished, i)
		fill(t, m, host2, failed, i)
	}
	assert.Equal(t, int64(t0+36000), end(cancelled), "New: endsAt")
	assert.Equal(t, int64(t0+36000), end(finished), "Started: endsAt")

	setTime(t, m, t0+5000)
	for i := uint64(0); i < 3; i++ {
		require.NoError(t, m.As(host2).FreeSlot(bg, market.SlotIDFor(failed, i)))
	}
	assert.Equal(t, int64(t0+3600), end(cancelled), "Cancelled: expiresAt")
	assert.Equal(t, int64(t0+4999), end(failed), "Failed: failure time − 1")
	setTime(t, m, t0+40000)
	assert.Equal(t, int64(t0+36000), end(finished), "Finished: min(endsAt, now)")

	_, err := c.GetRequestEnd(bg, market.RequestID{1})
	assert.ErrorIs(t, err, market.ErrUnknownRequest)
	exp, err := c.RequestExpiresAt(bg, market.RequestID{1})
	require.NoError(t, err)
	assert.Zero(t, exp, "requestExpiry has no existence check")
}

// A request the contract accepts but no host could serve (a huge number of
// zero-size slots) must not make the simulation hang.
func TestHugeRequestIsCheap(t *testing.T) {
	o := quiet()
	o.Competitors = []Competitor{{Address: market.Address{0xcc}, TakeProbability: 1}}
	m := newMarket(t, o)
	req := exampleRequest()
	req.Ask.Slots, req.Ask.SlotSize, req.Ask.MaxSlotLoss = 1<<40, 0, 0
	id := submit(t, m, req)
	require.NoError(t, m.Clock().Advance(1))
	assert.LessOrEqual(t, m.Clock().Waiters(), 2*maxCompetitorSlots+2)
	require.NoError(t, m.CheckInvariants())
	ri, err := m.RequestInfo(id)
	require.NoError(t, err)
	assert.True(t, ri.MaxPrice.IsZero(), "slotSize 0: every amount is 0")
}

func TestRandomRequest(t *testing.T) {
	gen := func(seed uint64) []market.StorageRequest {
		m, err := New(&Options{Seed: seed})
		require.NoError(t, err)
		var out []market.StorageRequest
		for range 200 {
			out = append(out, m.RandomRequest(client, RequestGen{}))
		}
		return out
	}
	a, b := gen(5), gen(5)
	assert.Equal(t, a, b, "same seed, same requests")
	assert.NotEqual(t, a, gen(6))

	m := newMarket(t, quiet())
	for _, req := range a {
		_, err := m.As(client).RequestStorage(bg, req)
		require.NoError(t, err, "%+v", req.Ask)
		assert.GreaterOrEqual(t, req.Ask.Slots, uint64(1))
		assert.LessOrEqual(t, req.Ask.Slots, uint64(4))
		assert.Less(t, req.Expiry, req.Ask.Duration)
	}
}
