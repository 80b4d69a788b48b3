package market

import (
	"encoding/json"
	"testing"

	"github.com/holiman/uint256"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRequestJSONRoundTrip(t *testing.T) {
	r := vectorRequest(t)
	b, err := json.Marshal(r)
	require.NoError(t, err)
	s := string(b)
	assert.Contains(t, s, `"id":"0x03c09c7abe2230019968bef88d2835e6105125421a686feca7f0095ad40facaf"`)
	assert.Contains(t, s, `"client":"0x70997970c51812dc3a010c7d01b50e0d17dc79c8"`)
	assert.Contains(t, s, `"pricePerBytePerSecond":"1"`)
	assert.Contains(t, s, `"slotSize":1073741824`)
	assert.Contains(t, s, `"cid":"zb2rhheVmk3bLks5MgzTqyznLu1zqGH5jrfTA1eAZXrjx7Vob"`)
	assert.Contains(t, s, `"merkleRoot":"0x0102`)
	assert.Contains(t, s, `"nonce":"0x4242`)

	var back StorageRequest
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, r, back)
	assert.Equal(t, r.ID(), back.ID())

	// Through a pointer, inside a slice, and as a Slot.
	slot := Slot{Request: r, SlotIndex: 3}
	b, err = json.Marshal([]*Slot{&slot})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"id":"0xa5230fa0255910bab192721d9ee8be59a338e13b1c0e34e3be5e7001439541e5"`)
	var slots []Slot
	require.NoError(t, json.Unmarshal(b, &slots))
	require.Len(t, slots, 1)
	assert.Equal(t, slot, slots[0])
}

func TestAskJSONLenient(t *testing.T) {
	// Reference: SPEC.md §1.7: uint64 accepts a number or a decimal string
	// ("" is 0); UInt256 a JSON integer or a decimal/0x/0o/0b string.
	in := `{"proofProbability":4,"pricePerBytePerSecond":"0x10","collateralPerByte":"0b101",
	        "slots":"3","slotSize":"","duration":18446744073709551615,"maxSlotLoss":"0"}`
	var a StorageAsk
	require.NoError(t, json.Unmarshal([]byte(in), &a))
	assert.Equal(t, *uint256.NewInt(4), a.ProofProbability)
	assert.Equal(t, *uint256.NewInt(16), a.PricePerBytePerSecond)
	assert.Equal(t, *uint256.NewInt(5), a.CollateralPerByte)
	assert.Equal(t, uint64(3), a.Slots)
	assert.Equal(t, uint64(0), a.SlotSize)
	assert.Equal(t, uint64(18446744073709551615), a.Duration)

	b, err := json.Marshal(a)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"duration":"18446744073709551615"`, "above int64 max: a string")
	assert.Contains(t, string(b), `"collateralPerByte":"5"`)
	var back StorageAsk
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, a, back)

	o := `{"collateralPerByte":"0o17"}`
	require.NoError(t, json.Unmarshal([]byte(o), &a))
	assert.Equal(t, *uint256.NewInt(15), a.CollateralPerByte)
}

func TestAskJSONRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"negative uint64", `{"slots":"-1"}`},
		{"negative number", `{"slots":-1}`},
		{"fraction", `{"slots":1.5}`},
		{"uint64 overflow", `{"slots":18446744073709551616}`},
		{"amount overflow", `{"collateralPerByte":"0x1` + string(make([]byte, 0)) + `0000000000000000000000000000000000000000000000000000000000000000"}`},
		{"negative amount", `{"collateralPerByte":"-1"}`},
		{"garbage amount", `{"collateralPerByte":"1e3"}`},
		{"prefixed bare number", `{"collateralPerByte":0x10}`},
		{"bad nonce", `{"nonce":"0x12"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r StorageRequest
			in := tt.in
			if tt.name != "bad nonce" {
				in = `{"ask":` + tt.in + `}`
			}
			assert.Error(t, json.Unmarshal([]byte(in), &r))
		})
	}
}

func TestStateJSON(t *testing.T) {
	type doc struct {
		R RequestState `json:"r"`
		S SlotState    `json:"s"`
	}
	b, err := json.Marshal(doc{RequestStateStarted, SlotStateRepair})
	require.NoError(t, err)
	assert.JSONEq(t, `{"r":"Started","s":"Repair"}`, string(b))
	var d doc
	require.NoError(t, json.Unmarshal(b, &d))
	assert.Equal(t, doc{RequestStateStarted, SlotStateRepair}, d)
	assert.Error(t, json.Unmarshal([]byte(`{"r":"Bogus"}`), &d))
}
