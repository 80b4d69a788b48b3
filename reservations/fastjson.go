package reservations

import (
	"bytes"
	"encoding/hex"
	"strconv"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
)

// Fast decoding of the records exactly as this package writes them
// (appendJSON with the version): one pass, no reflection. Anything else,
// a reference record, a hand-edited one, an older layout, falls back to
// encoding/json with its lenient rules, so the fast path changes no result.

type scanner struct {
	b  []byte
	ok bool
}

func (s *scanner) lit(l string) {
	if s.ok && bytes.HasPrefix(s.b, []byte(l)) {
		s.b = s.b[len(l):]
		return
	}
	s.ok = false
}

func (s *scanner) id() (v ID) {
	if !s.ok || len(s.b) < 68 || s.b[0] != '"' || s.b[1] != '0' || s.b[2] != 'x' || s.b[67] != '"' {
		s.ok = false
		return v
	}
	if _, err := hex.Decode(v[:], s.b[3:67]); err != nil {
		s.ok = false
		return v
	}
	s.b = s.b[68:]
	return v
}

func (s *scanner) digits() []byte {
	i := 0
	for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
		i++
	}
	if i == 0 {
		s.ok = false
		return nil
	}
	d := s.b[:i]
	s.b = s.b[i:]
	return d
}

func (s *scanner) u64() uint64 {
	if !s.ok {
		return 0
	}
	d := s.digits()
	if !s.ok {
		return 0
	}
	v, err := strconv.ParseUint(string(d), 10, 64)
	if err != nil || v > 1<<63-1 { // larger ones are written as strings
		s.ok = false
	}
	return v
}

func (s *scanner) i64() int64 {
	neg := false
	if s.ok && len(s.b) > 0 && s.b[0] == '-' {
		neg, s.b = true, s.b[1:]
	}
	v := s.u64()
	if neg {
		return -int64(v)
	}
	return int64(v)
}

func (s *scanner) u256() (v uint256.Int) {
	s.lit(`"`)
	if !s.ok {
		return v
	}
	d := s.digits()
	s.lit(`"`)
	if !s.ok || (len(d) > 1 && d[0] == '0') {
		s.ok = false
		return v
	}
	if err := v.SetFromDecimal(string(d)); err != nil {
		s.ok = false
	}
	return v
}

// fastReservation decodes a record written by Reservation.appendJSON.
func fastReservation(b []byte) (r Reservation, ok bool) {
	s := scanner{b: b, ok: true}
	s.lit(`{"v":1,"id":`)
	r.ID = s.id()
	s.lit(`,"availabilityId":`)
	r.AvailabilityID = s.id()
	s.lit(`,"size":`)
	r.Size = s.u64()
	s.lit(`,"slotSize":`)
	r.SlotSize = s.u64()
	s.lit(`,"collateral":`)
	r.Collateral = s.u256()
	s.lit(`,"requestId":`)
	r.RequestID = market.RequestID(s.id())
	s.lit(`,"slotIndex":`)
	r.SlotIndex = s.u64()
	s.lit(`,"validUntil":`)
	r.ValidUntil = s.i64()
	if s.ok && bytes.HasPrefix(s.b, []byte(`,"filled":true`)) {
		r.Filled = true
		s.b = s.b[len(`,"filled":true`):]
	}
	if s.ok && bytes.HasPrefix(s.b, []byte(`,"fillingSince":`)) {
		s.b = s.b[len(`,"fillingSince":`):]
		r.FillingSince = s.i64()
	}
	if s.ok && bytes.HasPrefix(s.b, []byte(`,"blocks":`)) {
		s.b = s.b[len(`,"blocks":`):]
		r.Blocks = s.u64()
	}
	s.lit(`}`)
	return r, s.ok && len(s.b) == 0 && r.Size <= r.SlotSize
}

// fastAvailability decodes a record written by Availability.appendJSON.
func fastAvailability(b []byte) (a Availability, ok bool) {
	s := scanner{b: b, ok: true}
	s.lit(`{"v":1,"id":`)
	a.ID = s.id()
	s.lit(`,"totalSize":`)
	a.TotalSize = s.u64()
	s.lit(`,"freeSize":`)
	a.FreeSize = s.u64()
	s.lit(`,"duration":`)
	a.Duration = s.u64()
	s.lit(`,"minPricePerBytePerSecond":`)
	a.MinPricePerBytePerSecond = s.u256()
	s.lit(`,"totalCollateral":`)
	a.TotalCollateral = s.u256()
	s.lit(`,"totalRemainingCollateral":`)
	a.TotalRemainingCollateral = s.u256()
	switch {
	case s.ok && bytes.HasPrefix(s.b, []byte(`,"enabled":true,"until":`)):
		a.Enabled = true
		s.b = s.b[len(`,"enabled":true,"until":`):]
	default:
		s.lit(`,"enabled":false,"until":`)
	}
	a.Until = s.i64()
	s.lit(`}`)
	return a, s.ok && len(s.b) == 0
}
