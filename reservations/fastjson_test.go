package reservations

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/holiman/uint256"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fast decoders agree with encoding/json on every record this package
// writes, and decline (fall back) on anything else.
func TestFastDecodersAgreeWithJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rid := func() (id ID) {
		for i := range id {
			id[i] = byte(rng.Uint32())
		}
		return id
	}
	for i := range 2000 {
		var coll uint256.Int
		coll.SetUint64(rng.Uint64())
		if i%3 == 0 {
			coll.Lsh(&coll, 130)
		}
		r := Reservation{ID: rid(), AvailabilityID: rid(), SlotSize: rng.Uint64N(1 << 62), Collateral: coll,
			RequestID: [32]byte(rid()), SlotIndex: rng.Uint64N(1000), ValidUntil: rng.Int64() - 1<<62, Filled: i%2 == 0}
		if i%5 == 0 {
			r.SlotSize = rng.Uint64() // above int64: a string, so the slow path
		}
		r.Size = r.SlotSize / 2
		raw := r.appendJSON(nil, true)
		var slow Reservation
		require.NoError(t, json.Unmarshal(raw, &slow))
		fast, ok := fastReservation(raw)
		if ok {
			assert.Equal(t, slow, fast)
		} else {
			assert.Greater(t, r.SlotSize, uint64(1<<63-1), "only big numbers take the slow path: %s", raw)
		}
		a := Availability{ID: rid(), TotalSize: rng.Uint64N(1 << 62), Duration: rng.Uint64N(1 << 40),
			MinPricePerBytePerSecond: coll, TotalCollateral: coll, Enabled: i%2 == 1, Until: rng.Int64N(1 << 40)}
		a.FreeSize = a.TotalSize / 3
		raw = a.appendJSON(nil, true)
		var slowA Availability
		require.NoError(t, json.Unmarshal(raw, &slowA))
		fastA, ok := fastAvailability(raw)
		require.True(t, ok, "%s", raw)
		assert.Equal(t, slowA, fastA)
	}
	for _, bad := range []string{`{"v":1}`, `{"size":5}`, `{"v":1,"id":"0x00"}`, ``, `{"v":2,"id":`} {
		_, ok := fastReservation([]byte(bad))
		assert.False(t, ok, bad)
		_, ok = fastAvailability([]byte(bad))
		assert.False(t, ok, bad)
	}
}

func FuzzFastReservation(f *testing.F) {
	f.Add([]byte(`{"v":1,"id":"0x` + "00" + `"}`))
	r := Reservation{Size: 1, SlotSize: 2, Collateral: *uint256.NewInt(3), ValidUntil: -5, Filled: true}
	f.Add(r.appendJSON(nil, true))
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := fastReservation(b)
		if !ok {
			return
		}
		var slow Reservation
		require.NoError(t, json.Unmarshal(b, &slow), "fast accepted what json refuses: %q", b)
		assert.Equal(t, slow, fast)
	})
}
