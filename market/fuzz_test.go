package market

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseIDs checks that the id and address decoders never panic, accept
// exactly the strict "0x" form, and round-trip what they accept.
func FuzzParseIDs(f *testing.F) {
	f.Add("0x03c09c7abe2230019968bef88d2835e6105125421a686feca7f0095ad40facaf")
	f.Add("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
	f.Add("03c09c7abe2230019968bef88d2835e6105125421a686feca7f0095ad40facaf")
	f.Add("0x")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if id, err := ParseRequestID(s); err == nil {
			if len(s) != 66 || !strings.HasPrefix(s, "0x") {
				t.Fatalf("accepted %q", s)
			}
			if id.String() != strings.ToLower(s) {
				t.Fatalf("round trip %q -> %q", s, id.String())
			}
			if sid, err := ParseSlotID(s); err != nil || [32]byte(sid) != [32]byte(id) {
				t.Fatalf("slot id disagrees on %q", s)
			}
		}
		if a, err := ParseAddress(s); err == nil {
			if len(s) != 42 || a.String() != strings.ToLower(s) {
				t.Fatalf("address round trip %q -> %q", s, a.String())
			}
		}
	})
}

// FuzzRequestJSON checks that decoding arbitrary JSON as a StorageRequest
// never panics, and that whatever decodes re-encodes to a value that
// decodes to the same request.
func FuzzRequestJSON(f *testing.F) {
	r := vectorRequest(f)
	b, _ := json.Marshal(r)
	f.Add(string(b))
	f.Add(`{"ask":{"slots":"","collateralPerByte":"0b11"}}`)
	f.Add(`{"ask":{"slots":-1}}`)
	f.Fuzz(func(t *testing.T, s string) {
		var r StorageRequest
		if err := json.Unmarshal([]byte(s), &r); err != nil {
			return
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back StorageRequest
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if back.ID() != r.ID() {
			t.Fatalf("id changed across a round trip")
		}
	})
}
