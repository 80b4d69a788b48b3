package market

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"

	"github.com/holiman/uint256"
)

// JSON forms follow SPEC.md §1.7: camelCase field names; uint64 as a JSON
// number (a decimal string above the int64 maximum); 256-bit amounts as
// decimal strings; ids, addresses and 32-byte values as "0x" hex. Reading is
// lenient: a uint64 may be a number or a decimal string ("" is 0); an
// amount may be a JSON integer or a string in decimal or with a
// 0x/0o/0b prefix. Derived fields written for readers ("id") are ignored
// when reading.

// ErrInvalidJSONNumber is wrapped by decoding errors of out-of-range or
// malformed numbers.
var ErrInvalidJSONNumber = errors.New("market: parsed integer outside of valid range")

type u64JSON uint64

func (v u64JSON) MarshalJSON() ([]byte, error) {
	if uint64(v) > math.MaxInt64 {
		return []byte(`"` + strconv.FormatUint(uint64(v), 10) + `"`), nil
	}
	return strconv.AppendUint(nil, uint64(v), 10), nil
}

func (v *u64JSON) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		s = string(b[1 : len(b)-1])
		if s == "" {
			*v = 0
			return nil
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidJSONNumber, quoteShort(b))
	}
	*v = u64JSON(n)
	return nil
}

type u256JSON uint256.Int

func (v u256JSON) MarshalJSON() ([]byte, error) {
	x := uint256.Int(v)
	return []byte(`"` + x.Dec() + `"`), nil
}

func (v *u256JSON) UnmarshalJSON(b []byte) error {
	quoted := len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"'
	s := string(b)
	if quoted {
		s = string(b[1 : len(b)-1])
	}
	x, err := parseU256(s, quoted)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidJSONNumber, quoteShort(b))
	}
	*v = u256JSON(x)
	return nil
}

// parseU256 parses a decimal string, or (when prefixed is allowed) a
// 0x/0o/0b prefixed one.
func parseU256(s string, allowPrefix bool) (uint256.Int, error) {
	var x uint256.Int
	if s == "" {
		return x, errors.New("empty")
	}
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b') {
		if !allowPrefix {
			return x, errors.New("prefix in a JSON number")
		}
		base := 16
		switch s[1] {
		case 'o':
			base = 8
		case 'b':
			base = 2
		}
		digits := s[2:]
		for i := 0; i < len(digits); i++ {
			if digits[i] == '_' || digits[i] == '+' || digits[i] == '-' {
				return x, errors.New("invalid digit")
			}
		}
		n, ok := new(big.Int).SetString(digits, base)
		if !ok {
			return x, errors.New("invalid digits")
		}
		if x.SetFromBig(n) {
			return x, errors.New("overflow")
		}
		return x, nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return x, errors.New("invalid decimal")
		}
	}
	err := x.SetFromDecimal(s)
	return x, err
}

type hex32JSON [32]byte

func (v hex32JSON) MarshalJSON() ([]byte, error) { return json.Marshal(encode0x(v[:])) }

func (v *hex32JSON) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	return decode0x([]byte(s), v[:], "bytes32")
}

type askJSON struct {
	ProofProbability      u256JSON `json:"proofProbability"`
	PricePerBytePerSecond u256JSON `json:"pricePerBytePerSecond"`
	CollateralPerByte     u256JSON `json:"collateralPerByte"`
	Slots                 u64JSON  `json:"slots"`
	SlotSize              u64JSON  `json:"slotSize"`
	Duration              u64JSON  `json:"duration"`
	MaxSlotLoss           u64JSON  `json:"maxSlotLoss"`
}

// MarshalJSON implements json.Marshaler (SPEC.md §1.7 forms).
func (a StorageAsk) MarshalJSON() ([]byte, error) {
	return json.Marshal(askJSON{
		ProofProbability:      u256JSON(a.ProofProbability),
		PricePerBytePerSecond: u256JSON(a.PricePerBytePerSecond),
		CollateralPerByte:     u256JSON(a.CollateralPerByte),
		Slots:                 u64JSON(a.Slots),
		SlotSize:              u64JSON(a.SlotSize),
		Duration:              u64JSON(a.Duration),
		MaxSlotLoss:           u64JSON(a.MaxSlotLoss),
	})
}

// UnmarshalJSON implements json.Unmarshaler, leniently (see the package's
// JSON rules). Missing fields are zero.
func (a *StorageAsk) UnmarshalJSON(b []byte) error {
	var j askJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("ask: %w", err)
	}
	*a = StorageAsk{
		ProofProbability:      uint256.Int(j.ProofProbability),
		PricePerBytePerSecond: uint256.Int(j.PricePerBytePerSecond),
		CollateralPerByte:     uint256.Int(j.CollateralPerByte),
		Slots:                 uint64(j.Slots),
		SlotSize:              uint64(j.SlotSize),
		Duration:              uint64(j.Duration),
		MaxSlotLoss:           uint64(j.MaxSlotLoss),
	}
	return nil
}

type contentJSON struct {
	CID        string    `json:"cid"`
	MerkleRoot hex32JSON `json:"merkleRoot"`
}

// MarshalJSON implements json.Marshaler: {"cid", "merkleRoot"}.
func (c StorageContent) MarshalJSON() ([]byte, error) {
	return json.Marshal(contentJSON{CID: c.CID, MerkleRoot: hex32JSON(c.MerkleRoot)})
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *StorageContent) UnmarshalJSON(b []byte) error {
	var j contentJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("content: %w", err)
	}
	*c = StorageContent{CID: j.CID, MerkleRoot: [32]byte(j.MerkleRoot)}
	return nil
}

type requestJSON struct {
	ID      *RequestID     `json:"id,omitempty"`
	Client  Address        `json:"client"`
	Ask     StorageAsk     `json:"ask"`
	Content StorageContent `json:"content"`
	Expiry  u64JSON        `json:"expiry"`
	Nonce   hex32JSON      `json:"nonce"`
}

// MarshalJSON implements json.Marshaler: {"id", "client", "ask", "content",
// "expiry", "nonce"}, where "id" is the derived RequestID (SPEC.md §7).
func (r StorageRequest) MarshalJSON() ([]byte, error) {
	id := r.ID()
	return json.Marshal(requestJSON{
		ID: &id, Client: r.Client, Ask: r.Ask, Content: r.Content,
		Expiry: u64JSON(r.Expiry), Nonce: hex32JSON(r.Nonce),
	})
}

// UnmarshalJSON implements json.Unmarshaler. A present "id" is ignored; the
// id is always derived from the other fields.
func (r *StorageRequest) UnmarshalJSON(b []byte) error {
	var j requestJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	*r = StorageRequest{
		Client: j.Client, Ask: j.Ask, Content: j.Content,
		Expiry: uint64(j.Expiry), Nonce: [32]byte(j.Nonce),
	}
	return nil
}

type slotJSON struct {
	ID        *SlotID        `json:"id,omitempty"`
	Request   StorageRequest `json:"request"`
	SlotIndex u64JSON        `json:"slotIndex"`
}

// MarshalJSON implements json.Marshaler: {"id", "request", "slotIndex"},
// where "id" is the derived SlotID (SPEC.md §7).
func (s Slot) MarshalJSON() ([]byte, error) {
	id := s.ID()
	return json.Marshal(slotJSON{ID: &id, Request: s.Request, SlotIndex: u64JSON(s.SlotIndex)})
}

// UnmarshalJSON implements json.Unmarshaler; a present "id" is ignored.
func (s *Slot) UnmarshalJSON(b []byte) error {
	var j slotJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("slot: %w", err)
	}
	*s = Slot{Request: j.Request, SlotIndex: uint64(j.SlotIndex)}
	return nil
}

// compile-time checks that the JSON helpers are wired as intended.
var (
	_ json.Marshaler   = StorageAsk{}
	_ json.Unmarshaler = (*StorageAsk)(nil)
	_ json.Marshaler   = StorageRequest{}
	_ json.Unmarshaler = (*StorageRequest)(nil)
)
