package reservations_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/holiman/uint256"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/repostore/badgerds"
	"github.com/hostsales/hostsales/reservations"
)

var ctx = context.Background()

// env is one repo with Reservations over it, on in-memory badger.
type env struct {
	repo  *repostore.Store
	res   *reservations.Reservations
	saved []reservations.Availability
	rng   *rand.Rand
	mu    sync.Mutex
}

func newEnv(t testing.TB, quota uint64) *env {
	t.Helper()
	repo, err := repostore.Open("", &repostore.Options{QuotaMaxBytes: quota, NoSync: true,
		Badger: &badgerds.Options{InMemory: true}})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, repo.Close()) })
	e := &env{repo: repo, rng: rand.New(rand.NewPCG(1, 2))}
	e.res, err = reservations.New(ctx, repo, &reservations.Options{
		Rand:                seededReader{rand.New(rand.NewPCG(3, 4))}, // guarded by Reservations
		OnAvailabilitySaved: func(a reservations.Availability) { e.saved = append(e.saved, a) },
	})
	require.NoError(t, err)
	return e
}

// seededReader turns a seeded RNG into an io.Reader of id bytes.
type seededReader struct{ r *rand.Rand }

func (s seededReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(s.r.Uint32())
	}
	return len(p), nil
}

// helperAvailability mirrors the reference test helper (SPEC §8): a random
// totalSize in 100000..200000 and totalCollateral = totalSize ×
// collateralPerByte with collateralPerByte a random byte (at least 1).
func (e *env) helperAvailability(t testing.TB) (reservations.Availability, *uint256.Int) {
	t.Helper()
	size := 100000 + e.rng.Uint64N(100001)
	cpb := uint256.NewInt(1 + e.rng.Uint64N(255))
	var coll uint256.Int
	coll.Mul(cpb, uint256.NewInt(size))
	a, err := e.res.CreateAvailability(ctx, reservations.Availability{TotalSize: size, Duration: 3600,
		MinPricePerBytePerSecond: *uint256.NewInt(1), TotalCollateral: coll, Enabled: true})
	require.NoError(t, err)
	return a, cpb
}

// requestIDLocked is requestID for concurrent callers.
func (e *env) requestIDLocked() market.RequestID {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requestID()
}

func dssyncMutexWrap() ds.Datastore { return dssync.MutexWrap(ds.NewMapDatastore()) }

func (e *env) requestID() market.RequestID {
	var id market.RequestID
	for i := range id {
		id[i] = byte(e.rng.Uint32())
	}
	return id
}

// reserve creates a reservation of size bytes on a with collateralPerByte cpb.
func (e *env) reserve(t testing.TB, a reservations.Availability, size uint64, cpb *uint256.Int) reservations.Reservation {
	t.Helper()
	r, err := e.res.CreateReservation(ctx, a.ID, size, e.requestID(), 0, cpb, 1000)
	require.NoError(t, err)
	return r
}

func TestSmoke(t *testing.T) {
	e := newEnv(t, 1<<30)
	a, cpb := e.helperAvailability(t)
	r := e.reserve(t, a, 1000, cpb)
	got, err := e.res.Availability(a.ID)
	require.NoError(t, err)
	assert.Equal(t, a.TotalSize-1000, got.FreeSize)
	r, err = e.res.StoreBlocks(ctx, a.ID, r.ID, [][]byte{make([]byte, 300), []byte("x")}, 5000)
	require.NoError(t, err)
	assert.Equal(t, uint64(699), r.Size)
	q := e.repo.Quota()
	assert.Equal(t, uint64(301), q.Used)
	assert.Equal(t, a.TotalSize-301, q.Reserved)
	end, err := e.res.EndReservation(ctx, a.ID, r.ID, &r.Collateral)
	require.NoError(t, err)
	assert.True(t, end.Found)
	assert.Equal(t, repostore.Quota{Max: 1 << 30, Reserved: a.TotalSize}, e.repo.Quota())
	got, err = e.res.Availability(a.ID)
	require.NoError(t, err)
	assert.Equal(t, a, got)
}
