package market

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIDTextForms(t *testing.T) {
	var id RequestID
	for i := range id {
		id[i] = byte(0xa0 + i)
	}
	s := id.String()
	assert.True(t, strings.HasPrefix(s, "0xa0a1a2"))
	assert.Len(t, s, 66)
	assert.Equal(t, s[2:], id.Hex())
	assert.Equal(t, strings.ToLower(s), s)

	back, err := ParseRequestID(s)
	require.NoError(t, err)
	assert.Equal(t, id, back)

	upper := "0x" + strings.ToUpper(s[2:])
	back, err = ParseRequestID(upper)
	require.NoError(t, err, "hex digits may be upper case")
	assert.Equal(t, id, back)

	sid := SlotIDFor(id, 7)
	sback, err := ParseSlotID(sid.String())
	require.NoError(t, err)
	assert.Equal(t, sid, sback)
	assert.Equal(t, sid.String()[2:], sid.Hex())
}

func TestIDDecodeRejects(t *testing.T) {
	good := strings.Repeat("ab", 32)
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"bare hex", good},
		{"upper X prefix", "0X" + good},
		{"short", "0x" + good[:62]},
		{"long", "0x" + good + "00"},
		{"bad digit", "0x" + good[:63] + "g"},
		{"spaces", " 0x" + good[:63]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := RequestID{1}
			err := id.UnmarshalText([]byte(tt.in))
			require.ErrorIs(t, err, ErrInvalidID)
			assert.Equal(t, RequestID{1}, id, "unchanged on error")
			_, err = ParseSlotID(tt.in)
			assert.ErrorIs(t, err, ErrInvalidID)
		})
	}
}

func TestAddressText(t *testing.T) {
	a, err := ParseAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
	require.NoError(t, err)
	assert.Equal(t, "0x70997970c51812dc3a010c7d01b50e0d17dc79c8", a.String())
	assert.Equal(t, "70997970c51812dc3a010c7d01b50e0d17dc79c8", a.Hex())
	assert.False(t, a.IsZero())
	assert.True(t, Address{}.IsZero())

	_, err = ParseAddress("0x1234")
	assert.ErrorIs(t, err, ErrInvalidAddress)
	_, err = ParseAddress(strings.Repeat("a", 42))
	assert.ErrorIs(t, err, ErrInvalidAddress)
}

func TestIDJSONRoundTrip(t *testing.T) {
	type doc struct {
		Request RequestID `json:"requestId"`
		Slot    SlotID    `json:"slotId"`
		Host    Address   `json:"host"`
		Chal    Challenge `json:"challenge"`
	}
	in := doc{Request: RequestID{1, 2}, Slot: SlotID{3}, Host: Address{4}, Chal: Challenge{5}}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"requestId":"0x0102000000`)
	var out doc
	require.NoError(t, json.Unmarshal(b, &out))
	assert.Equal(t, in, out)

	// Ids as map keys use the text form too.
	m := map[SlotID]int{{9}: 1}
	b, err = json.Marshal(m)
	require.NoError(t, err)
	var m2 map[SlotID]int
	require.NoError(t, json.Unmarshal(b, &m2))
	assert.Equal(t, m, m2)
}

func TestErrorMessageTruncatesHugeInput(t *testing.T) {
	_, err := ParseRequestID(strings.Repeat("z", 10000))
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 300)
}
