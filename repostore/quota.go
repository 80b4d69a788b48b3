package repostore

import (
	"encoding/json"
	"fmt"
)

// Quota is a snapshot of the repo's byte counters (SPEC §6).
//
// Used counts the bytes of stored non-empty blocks, each block once.
// Reserved counts bytes promised to availabilities and reservations but not
// yet written. Used+Reserved never exceeds Max after a successful change.
type Quota struct {
	Max      uint64 `json:"max"`
	Used     uint64 `json:"used"`
	Reserved uint64 `json:"reserved"`
}

// TotalUsed returns Used+Reserved.
func (q Quota) TotalUsed() uint64 { return q.Used + q.Reserved }

// Available returns Max-Used-Reserved, or 0 if the counters exceed Max.
func (q Quota) Available() uint64 {
	if t := q.TotalUsed(); t < q.Max {
		return q.Max - t
	}
	return 0
}

// HasAvailable reports whether n bytes fit strictly below the available
// space, as the reference's hasAvailable (n < available) does.
func (q Quota) HasAvailable(n uint64) bool { return n < q.Available() }

// reserve returns the counters after reserving n, or a *QuotaError.
func (q Quota) reserve(n uint64) (Quota, error) {
	r := q.Reserved + n
	if r < q.Reserved || q.Used+r < r || q.Used+r > q.Max {
		return q, &QuotaError{Kind: ErrQuotaExceeded, Delta: n, Quota: q}
	}
	q.Reserved = r
	return q, nil
}

// release returns the counters after releasing n, or a *QuotaError.
func (q Quota) release(n uint64) (Quota, error) {
	if n > q.Reserved {
		return q, &QuotaError{Kind: ErrReleaseExceedsReserved, Delta: n, Quota: q}
	}
	q.Reserved -= n
	return q, nil
}

// addUsed returns the counters after n new bytes were stored.
func (q Quota) addUsed(n uint64) (Quota, error) {
	u := q.Used + n
	if u < q.Used || u+q.Reserved < u || u+q.Reserved > q.Max {
		return q, &QuotaError{Kind: ErrQuotaExceeded, Delta: n, Quota: q}
	}
	q.Used = u
	return q, nil
}

// subUsed returns the counters after n stored bytes were removed. The
// counters never go below zero; a mismatch would mean corrupt metadata.
func (q Quota) subUsed(n uint64) Quota {
	if n > q.Used {
		n = q.Used
	}
	q.Used -= n
	return q
}

// quotaRecordVersion is the schema version of the stored quota record.
const quotaRecordVersion = 1

// quotaRecord is the stored form of the counters at /meta/quota/used. The
// field names are the reference's ({"used":N,"reserved":M}); "v" is ours.
// "max" is the maximum the store ran with when it wrote the record, so
// that an offline check (salesctl fsck) knows the node's quota; it is
// informational: Open's Options.QuotaMaxBytes is the maximum in force.
type quotaRecord struct {
	V        int    `json:"v"`
	Used     uint64 `json:"used"`
	Reserved uint64 `json:"reserved"`
	Max      uint64 `json:"max,omitempty"`
}

func encodeQuota(q Quota) []byte {
	b, _ := json.Marshal(quotaRecord{V: quotaRecordVersion, Used: q.Used, Reserved: q.Reserved, Max: q.Max})
	return b
}

// decodeQuota returns the counters with max as their maximum, and the
// maximum the record was written with (0 if it does not say).
func decodeQuota(b []byte, max uint64) (Quota, uint64, error) {
	var r quotaRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return Quota{}, 0, &CorruptError{Key: quotaKey.String(), Err: err}
	}
	// A record written before versioning has v=0; it is the same shape.
	if r.V > quotaRecordVersion {
		return Quota{}, 0, &CorruptError{Key: quotaKey.String(),
			Err: fmt.Errorf("schema version %d is newer than this build understands (%d)", r.V, quotaRecordVersion)}
	}
	return Quota{Max: max, Used: r.Used, Reserved: r.Reserved}, r.Max, nil
}
