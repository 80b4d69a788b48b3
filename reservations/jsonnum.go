package reservations

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/holiman/uint256"
)

// JSON number codecs of SPEC §1.7. Writing: uint64 and int64 as numbers (a
// uint64 above the int64 range as a decimal string), UInt256 as a decimal
// string, ids as 0x hex. Reading is lenient where the reference is (a
// number or a decimal string; "" is 0; UInt256 also 0x/0o/0b) and strict
// about ranges: a negative or overflowing value is an error, never a wrap.

var errRange = errors.New("Parsed integer outside of valid range")

// unquote returns the text of a JSON number or string token.
func unquote(b []byte) (string, bool, error) {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", true, err
		}
		return s, true, nil
	}
	if len(b) == 0 || bytes.Equal(b, []byte("null")) || b[0] == '{' || b[0] == '[' || b[0] == 't' || b[0] == 'f' {
		return "", false, fmt.Errorf("expected a number, got %s", b)
	}
	return string(b), false, nil
}

// U64 is a uint64 with the reference's JSON rules.
type U64 uint64

// MarshalJSON writes a number, or a decimal string above the int64 range.
func (v U64) MarshalJSON() ([]byte, error) { return appendU64(nil, uint64(v)), nil }

func appendU64(b []byte, v uint64) []byte {
	if v > 1<<63-1 {
		b = append(b, '"')
		b = strconv.AppendUint(b, v, 10)
		return append(b, '"')
	}
	return strconv.AppendUint(b, v, 10)
}

// UnmarshalJSON accepts a number or a decimal string ("" is 0).
func (v *U64) UnmarshalJSON(b []byte) error {
	s, quoted, err := unquote(b)
	if err != nil {
		return err
	}
	if quoted && s == "" {
		*v = 0
		return nil
	}
	if strings.HasPrefix(s, "-") {
		return errRange
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return errRange
		}
		return fmt.Errorf("invalid unsigned integer %q", s)
	}
	*v = U64(n)
	return nil
}

// I64 is an int64 with the reference's JSON rules.
type I64 int64

// MarshalJSON writes a number.
func (v I64) MarshalJSON() ([]byte, error) { return strconv.AppendInt(nil, int64(v), 10), nil }

// UnmarshalJSON accepts a number or a decimal string ("" is 0).
func (v *I64) UnmarshalJSON(b []byte) error {
	s, quoted, err := unquote(b)
	if err != nil {
		return err
	}
	if quoted && s == "" {
		*v = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return errRange
		}
		return fmt.Errorf("invalid integer %q", s)
	}
	*v = I64(n)
	return nil
}

// U256 is a 256-bit unsigned integer with the reference's JSON rules.
type U256 struct{ uint256.Int }

// NewU256 returns v as a U256.
func NewU256(v uint64) U256 { return U256{*uint256.NewInt(v)} }

// MarshalJSON writes a decimal string.
func (v U256) MarshalJSON() ([]byte, error) { return appendU256(nil, &v.Int), nil }

func appendU256(b []byte, v *uint256.Int) []byte {
	b = append(b, '"')
	b = append(b, v.Dec()...)
	return append(b, '"')
}

// UnmarshalJSON accepts a JSON integer or a string: decimal, or 0x, 0o or
// 0b prefixed. Negative and overflowing values are errors.
func (v *U256) UnmarshalJSON(b []byte) error {
	s, _, err := unquote(b)
	if err != nil {
		return err
	}
	n, err := ParseU256(s)
	if err != nil {
		return err
	}
	v.Int = *n
	return nil
}

// ParseU256 parses a decimal, 0x, 0o or 0b string into a 256-bit integer.
func ParseU256(s string) (*uint256.Int, error) {
	if strings.HasPrefix(s, "-") {
		return nil, errRange
	}
	base := 10
	digits := s
	if len(s) > 2 && s[0] == '0' {
		switch s[1] {
		case 'x', 'X':
			base, digits = 16, s[2:]
		case 'o', 'O':
			base, digits = 8, s[2:]
		case 'b', 'B':
			base, digits = 2, s[2:]
		}
	}
	if digits == "" {
		return nil, fmt.Errorf("invalid integer %q", s)
	}
	if base == 10 {
		n, err := uint256.FromDecimal(digits)
		if err != nil {
			if errors.Is(err, uint256.ErrBig256Range) {
				return nil, errRange
			}
			return nil, fmt.Errorf("invalid integer %q", s)
		}
		return n, nil
	}
	n := new(uint256.Int)
	b := uint256.NewInt(uint64(base))
	for _, c := range digits {
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return nil, fmt.Errorf("invalid integer %q", s)
		}
		if d >= uint64(base) {
			return nil, fmt.Errorf("invalid integer %q", s)
		}
		if _, over := n.MulOverflow(n, b); over {
			return nil, errRange
		}
		if _, over := n.AddOverflow(n, uint256.NewInt(d)); over {
			return nil, errRange
		}
	}
	return n, nil
}

// ID is a 32-byte identifier: 0x-prefixed lowercase hex in JSON, bare
// lowercase hex in keys.
type ID [32]byte

// Hex returns the bare lowercase hex form used in keys.
func (id ID) Hex() string { return hex.EncodeToString(id[:]) }

// String returns the 0x-prefixed form.
func (id ID) String() string { return "0x" + id.Hex() }

// IsZero reports whether id is all zeros.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText writes the 0x-prefixed form.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads the 0x-prefixed form (66 characters).
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseID parses a 0x-prefixed (or bare) 64-digit hex id.
func ParseID(s string) (ID, error) {
	var id ID
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(h) != 64 {
		return id, fmt.Errorf("%w: id %q must be 32 bytes of hex", ErrInvalid, s)
	}
	if _, err := hex.Decode(id[:], []byte(h)); err != nil {
		return id, fmt.Errorf("%w: id %q: %v", ErrInvalid, s, err)
	}
	return id, nil
}
