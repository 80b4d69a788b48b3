package simmarket

import (
	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
)

// Proof timing (MARKET.md §5) over a virtual chain: block b at time t is
// blockOffset + t/BlockTime, and the hash of block n is a seeded
// pseudo-random value, so the formulas of §5.2 and §5.3 apply unchanged.

const blockOffset = 1000 // keeps every block number above 256

func (m *Market) blockAt(now int64) uint64 {
	if now < 0 {
		now = 0
	}
	return blockOffset + uint64(now)/m.blockTime
}

func (m *Market) blockHash(n uint64) [32]byte {
	return market.Keccak256([]byte("simmarket-block"), u64be(m.seed), u64be(n))
}

// pointer is (b mod 256 + (P × downtimeProduct) mod 256 + id mod 256) mod 256.
func (m *Market) pointer(id market.SlotID, period uint64, b uint64) uint8 {
	periodNumber := (period % 256) * uint64(m.cfg.Proofs.DowntimeProduct) % 256
	return uint8((b%256 + periodNumber + uint64(id[31])) % 256)
}

// challenge is keccak256(blockhash(b − 1 − pointer)).
func (m *Market) challenge(pointer uint8, b uint64) market.Challenge {
	h := m.blockHash(b - 1 - uint64(pointer))
	return market.Challenge(market.Keccak256(h[:]))
}

func (m *Market) currentChallenge(now int64, id market.SlotID) market.Challenge {
	b := m.blockAt(now)
	return m.challenge(m.pointer(id, m.per.PeriodOf(now), b), b)
}

// slotProbability is floor(proofProbability × (256 − downtime) / 256).
func (m *Market) slotProbability(r *request) (uint256.Int, error) {
	p, err := mulU64(&r.req.Ask.ProofProbability, 256-uint64(m.cfg.Proofs.Downtime))
	if err != nil {
		return p, err
	}
	p.Rsh(&p, 8)
	return p, nil
}

// requirementLocked is the contract's _getProofRequirement for slot s and
// period, evaluated at now.
func (m *Market) requirementLocked(now int64, s *slot, period uint64) (required bool, pointer uint8, err error) {
	if m.slotStateLocked(now, s) != market.SlotStateFilled || period <= s.proofStart {
		return false, 0, nil
	}
	b := m.blockAt(now)
	pointer = m.pointer(s.id, period, b)
	ch := m.challenge(pointer, b)
	prob, err := m.slotProbability(m.mu.requests[s.requestID])
	if err != nil {
		return false, 0, err
	}
	if prob.IsZero() {
		return true, pointer, nil
	}
	var c, rem uint256.Int
	c.SetBytes32(ch[:])
	rem.Mod(&c, &prob)
	return rem.IsZero(), pointer, nil
}

// isProofRequiredLocked: required and the pointer out of downtime.
func (m *Market) isProofRequiredLocked(now int64, s *slot, period uint64) (bool, error) {
	req, ptr, err := m.requirementLocked(now, s, period)
	return req && ptr >= m.cfg.Proofs.Downtime, err
}

// willProofBeRequiredLocked: required but the pointer still in downtime.
func (m *Market) willProofBeRequiredLocked(now int64, s *slot, period uint64) (bool, error) {
	req, ptr, err := m.requirementLocked(now, s, period)
	return req && ptr < m.cfg.Proofs.Downtime, err
}

// proofInputsLocked returns the public inputs for a proof of slot s (with
// request r and index) submitted now.
func (m *Market) proofInputsLocked(now int64, id market.SlotID, r *request, index uint64) ProofInputs {
	return ProofInputs{
		Challenge:  m.currentChallenge(now, id),
		MerkleRoot: r.req.Content.MerkleRoot,
		SlotIndex:  index,
	}
}
