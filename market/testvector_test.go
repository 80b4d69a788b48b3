package market

import (
	"testing"

	"github.com/holiman/uint256"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vectorRequest is the request of MARKET.md §1.4.
func vectorRequest(t testing.TB) StorageRequest {
	t.Helper()
	client, err := ParseAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
	require.NoError(t, err)
	var root, nonce [32]byte
	for i := range root {
		root[i] = byte(i + 1)
		nonce[i] = 0x42
	}
	return StorageRequest{
		Client: client,
		Ask: StorageAsk{
			ProofProbability:      *uint256.NewInt(4),
			PricePerBytePerSecond: *uint256.NewInt(1),
			CollateralPerByte:     *uint256.NewInt(1),
			Slots:                 4,
			SlotSize:              1073741824,
			Duration:              36000,
			MaxSlotLoss:           2,
		},
		Content: StorageContent{CID: "zb2rhheVmk3bLks5MgzTqyznLu1zqGH5jrfTA1eAZXrjx7Vob", MerkleRoot: root},
		Expiry:  3600,
		Nonce:   nonce,
	}
}

// Reference: MARKET.md §1.2, §1.4.
func TestRequestIDTestVector(t *testing.T) {
	r := vectorRequest(t)
	assert.Len(t, r.abiEncode(), 544)
	assert.Equal(t, "0x03c09c7abe2230019968bef88d2835e6105125421a686feca7f0095ad40facaf", r.ID().String())
}

// Reference: MARKET.md §1.3, §1.4.
func TestSlotIDTestVector(t *testing.T) {
	id := vectorRequest(t).ID()
	tests := []struct {
		index uint64
		want  string
	}{
		{0, "0xaa981912cacae1503aa01fecb1b67754893cc15ecb22fca6407913fb3c75ea50"},
		{1, "0x21bd22f490d25361f2b7413b9f66019297130f1879f163655846689bf3eec44a"},
		{3, "0xa5230fa0255910bab192721d9ee8be59a338e13b1c0e34e3be5e7001439541e5"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, SlotIDFor(id, tt.index).String(), "slot %d", tt.index)
		assert.Equal(t, SlotIDFor(id, tt.index), Slot{Request: vectorRequest(t), SlotIndex: tt.index}.ID())
	}
}

// The cid is right-padded to whole words; lengths on a word boundary add no
// padding word.
func TestABIEncodingPadding(t *testing.T) {
	r := vectorRequest(t)
	for _, tt := range []struct {
		cidLen, want int
	}{{1, 512}, {32, 512}, {33, 544}, {64, 544}, {65, 576}} {
		r.Content.CID = string(make([]byte, tt.cidLen))
		assert.Len(t, r.abiEncode(), tt.want, "cid length %d", tt.cidLen)
	}
}

func TestKeccakIsLegacyKeccak(t *testing.T) {
	// keccak256("") differs from NIST SHA3-256("").
	h := Keccak256()
	assert.Equal(t, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470", RequestID(h).Hex())
}
