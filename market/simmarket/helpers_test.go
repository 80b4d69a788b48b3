package simmarket

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/holiman/uint256"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
)

// Start of the MARKET.md §4.3 worked example.
const t0 = 1_000_000

var (
	client = mustAddr("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
	host1  = market.Address{0x11}
	host2  = market.Address{0x22}
	host3  = market.Address{0x33}
	host4  = market.Address{0x44}
	anyone = market.Address{0x99}
	proof  = market.Proof("proof")
	bg     = context.Background()
)

func mustAddr(s string) market.Address {
	a, err := market.ParseAddress(s)
	if err != nil {
		panic(err)
	}
	return a
}

// exampleRequest is the request of MARKET.md §1.4: 4 slots of 1 GiB, 10 h,
// expiry 1 h, proofProbability 4, price and collateral 1 per byte,
// maxSlotLoss 2.
func exampleRequest() market.StorageRequest {
	var root, nonce [32]byte
	for i := range root {
		root[i], nonce[i] = byte(i+1), 0x42
	}
	return market.StorageRequest{
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
}

const p = uint64(1 << 30) // pricePerSlotPerSecond = collateralPerSlot of the example

func u(v uint64) uint256.Int { return *uint256.NewInt(v) }

// big is more than any test spends.
var big = *uint256.NewInt(1 << 62)

// quiet are options with no simulated actors, so rule tests see only their
// own effects.
func quiet() *Options {
	return &Options{Start: t0, NoValidator: true, NoAutoWithdraw: true}
}

func newMarket(t *testing.T, opts *Options) *Market {
	t.Helper()
	m, err := New(opts)
	require.NoError(t, err)
	for _, a := range []market.Address{client, host1, host2, host3, host4} {
		m.Mint(a, big)
	}
	return m
}

// submit submits the example request (or req) and returns its id.
func submit(t *testing.T, m *Market, reqs ...market.StorageRequest) market.RequestID {
	t.Helper()
	req := exampleRequest()
	if len(reqs) > 0 {
		req = reqs[0]
	}
	id, err := m.As(req.Client).RequestStorage(bg, req)
	require.NoError(t, err)
	return id
}

// fill reserves and fills a slot as host with the collateral due.
func fill(t *testing.T, m *Market, host market.Address, id market.RequestID, idx uint64) {
	t.Helper()
	c := m.As(host)
	require.NoError(t, c.ReserveSlot(bg, id, idx))
	coll, err := c.SlotCollateral(bg, id, idx)
	require.NoError(t, err)
	require.NoError(t, c.FillSlot(bg, id, idx, proof, coll))
}

func setTime(t *testing.T, m *Market, at int64) {
	t.Helper()
	require.NoError(t, m.Clock().Set(at))
}

// recorder collects the records a market commits.
type recorder struct {
	mu   sync.Mutex
	recs []Record
}

func record(m *Market) *recorder {
	r := &recorder{}
	m.Observe(func(rec Record) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.recs = append(r.recs, rec)
	})
	return r
}

// events returns the names of the recorded events, without transfers
// unless withTransfers.
func (r *recorder) events(withTransfers bool) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		if _, ok := rec.Event.(Transfer); ok && !withTransfers {
			continue
		}
		out = append(out, rec.Event.EventName())
	}
	return out
}

func (r *recorder) trace() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, rec := range r.recs {
		b.WriteString(rec.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = nil
}

func balance(m *Market, a market.Address) uint64 {
	b := m.BalanceOf(a)
	return b.Uint64()
}
