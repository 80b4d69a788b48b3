package market

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/holiman/uint256"
	"golang.org/x/crypto/sha3"
)

// StorageAsk is what a client asks for (MARKET.md §1.1). The field order is
// the contract's and matters for the RequestID.
//
// Prices and collateral are 256-bit; counts, sizes and durations are 64-bit.
// The derived amounts below never overflow silently: the 256-bit ones
// saturate at 2^256-1 and Size saturates at 2^64-1 (a saturated amount can
// never be matched by an availability, so such a request is simply not
// taken). MaxPrice reproduces the contract's checked arithmetic exactly and
// returns ErrArithmetic instead.
type StorageAsk struct {
	// ProofProbability: a proof is required on average once every
	// ProofProbability periods.
	ProofProbability uint256.Int
	// PricePerBytePerSecond is paid to a host per byte of its slot per second.
	PricePerBytePerSecond uint256.Int
	// CollateralPerByte is deposited by a host per byte of its slot.
	CollateralPerByte uint256.Int
	// Slots is the number of slots (hosts).
	Slots uint64
	// SlotSize is the number of bytes per slot.
	SlotSize uint64
	// Duration is the number of seconds of storage, counted from submission.
	Duration uint64
	// MaxSlotLoss is how many slots may be empty at the same time after the
	// request started before it fails.
	MaxSlotLoss uint64
}

// StorageContent is what is stored.
type StorageContent struct {
	// CID is the dataset's content identifier. Its bytes are the dynamic
	// "cid" bytes of the contract's Content (MARKET.md §1.4 uses the ASCII
	// text of the CID). It must not be empty.
	CID string
	// MerkleRoot is used only as a public input of storage proofs.
	MerkleRoot [32]byte
}

// StorageRequest is everything a client submits (MARKET.md §1.1, SPEC.md
// §1.4). Expiry is relative: seconds after submission by which all slots must
// be filled; the absolute time comes from Market.RequestExpiresAt and from
// the StorageRequested event.
type StorageRequest struct {
	Client  Address
	Ask     StorageAsk
	Content StorageContent
	Expiry  uint64
	Nonce   [32]byte
}

// Slot is one slot of a request, as returned by Market.GetActiveSlot.
type Slot struct {
	Request   StorageRequest
	SlotIndex uint64
}

// ID returns the RequestID: Keccak-256 (legacy Keccak padding, not NIST
// SHA3) of the ABI encoding of the request as one tuple (MARKET.md §1.2).
// It hashes about 500 bytes on every call; cache it when that matters.
func (r StorageRequest) ID() RequestID {
	return RequestID(keccak256(r.abiEncode()))
}

// SlotID returns the id of slot slotIndex of this request.
func (r StorageRequest) SlotID(slotIndex uint64) SlotID {
	return SlotIDFor(r.ID(), slotIndex)
}

// ID returns the id of the slot: SlotIDFor(s.Request.ID(), s.SlotIndex).
func (s Slot) ID() SlotID { return s.Request.SlotID(s.SlotIndex) }

// SlotIDFor returns keccak256(abi.encode(requestID, slotIndex)): the 32 id
// bytes followed by the index as a 32-byte big-endian word (MARKET.md §1.3).
func SlotIDFor(requestID RequestID, slotIndex uint64) SlotID {
	var buf [64]byte
	copy(buf[:32], requestID[:])
	binary.BigEndian.PutUint64(buf[56:], slotIndex)
	return SlotID(keccak256(buf[:]))
}

// abiEncode returns abi.encode(request) with the request as one dynamic tuple
// argument, word by word as MARKET.md §1.2 lists.
func (r StorageRequest) abiEncode() []byte {
	cid := []byte(r.Content.CID)
	padded := (len(cid) + 31) / 32 * 32
	buf := make([]byte, 15*32+padded)
	word := func(i int) []byte { return buf[i*32 : (i+1)*32] }
	putWord64 := func(i int, v uint64) { binary.BigEndian.PutUint64(word(i)[24:], v) }
	putWord256 := func(i int, v *uint256.Int) { b := v.Bytes32(); copy(word(i), b[:]) }

	putWord64(0, 0x20) // offset of the request tuple
	copy(word(1)[12:], r.Client[:])
	putWord256(2, &r.Ask.ProofProbability)
	putWord256(3, &r.Ask.PricePerBytePerSecond)
	putWord256(4, &r.Ask.CollateralPerByte)
	putWord64(5, r.Ask.Slots)
	putWord64(6, r.Ask.SlotSize)
	putWord64(7, r.Ask.Duration)
	putWord64(8, r.Ask.MaxSlotLoss)
	putWord64(9, 0x160) // offset of Content from word 1
	putWord64(10, r.Expiry)
	copy(word(11), r.Nonce[:])
	putWord64(12, 0x40) // offset of cid inside Content
	copy(word(13), r.Content.MerkleRoot[:])
	putWord64(14, uint64(len(cid)))
	copy(buf[15*32:], cid)
	return buf
}

func keccak256(parts ...[]byte) [32]byte {
	h := sha3.NewLegacyKeccak256()
	for _, p := range parts {
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Keccak256 returns the Ethereum Keccak-256 hash (legacy Keccak padding) of
// the concatenation of parts.
func Keccak256(parts ...[]byte) [32]byte { return keccak256(parts...) }

// MaxUint256 is 2^256-1, the value saturated amounts take.
var MaxUint256 = uint256.Int{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}

// mulSat returns x*y, or MaxUint256 when the product does not fit.
func mulSat(x *uint256.Int, y uint64) uint256.Int {
	var z uint256.Int
	if _, overflow := z.MulOverflow(x, uint256.NewInt(y)); overflow {
		return MaxUint256
	}
	return z
}

// PricePerSlotPerSecond returns PricePerBytePerSecond × SlotSize, saturated.
func (a StorageAsk) PricePerSlotPerSecond() uint256.Int {
	return mulSat(&a.PricePerBytePerSecond, a.SlotSize)
}

// PricePerSlot returns Duration × PricePerSlotPerSecond, saturated: what one
// host earns for hosting a slot for the whole duration (the "profitability"
// of a slot queue item).
func (a StorageAsk) PricePerSlot() uint256.Int {
	p := a.PricePerSlotPerSecond()
	return mulSat(&p, a.Duration)
}

// CollateralPerSlot returns CollateralPerByte × SlotSize, saturated.
func (a StorageAsk) CollateralPerSlot() uint256.Int {
	return mulSat(&a.CollateralPerByte, a.SlotSize)
}

// TotalPrice returns Slots × PricePerSlot, saturated. For every request the
// market accepted it equals MaxPrice.
func (a StorageAsk) TotalPrice() uint256.Int {
	p := a.PricePerSlot()
	return mulSat(&p, a.Slots)
}

// Size returns Slots × SlotSize, saturated at 2^64-1.
func (a StorageAsk) Size() uint64 {
	hi, lo := bits.Mul64(a.Slots, a.SlotSize)
	if hi != 0 {
		return ^uint64(0)
	}
	return lo
}

// MaxPrice returns what the client pays at submission, computed exactly as
// the contract does (MARKET.md §9): Slots × Duration in 64 bits first, then
// times PricePerSlotPerSecond in 256 bits. Any overflow returns an error
// wrapping ErrArithmetic.
func (a StorageAsk) MaxPrice() (uint256.Int, error) {
	hi, slotSeconds := bits.Mul64(a.Slots, a.Duration)
	if hi != 0 {
		return uint256.Int{}, fmt.Errorf("maxPrice: slots × duration: %w", ErrArithmetic)
	}
	var p uint256.Int
	if _, overflow := p.MulOverflow(&a.PricePerBytePerSecond, uint256.NewInt(a.SlotSize)); overflow {
		return uint256.Int{}, fmt.Errorf("maxPrice: pricePerSlotPerSecond: %w", ErrArithmetic)
	}
	var total uint256.Int
	if _, overflow := total.MulOverflow(uint256.NewInt(slotSeconds), &p); overflow {
		return uint256.Int{}, fmt.Errorf("maxPrice: %w", ErrArithmetic)
	}
	return total, nil
}
