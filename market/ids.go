package market

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrInvalidID is wrapped by every error returned when decoding the text form
// of a RequestID, SlotID or Challenge fails.
var ErrInvalidID = errors.New("market: invalid id")

// ErrInvalidAddress is wrapped by every error returned when decoding the text
// form of an Address fails.
var ErrInvalidAddress = errors.New("market: invalid address")

// RequestID identifies a storage request: the Keccak-256 hash of the ABI
// encoding of the whole StorageRequest (MARKET.md §1.2). It is a comparable
// value; the zero value is never the id of a real request.
//
// Its JSON and text form is "0x" followed by 64 lowercase hex digits; Hex
// gives the bare form used in datastore keys.
type RequestID [32]byte

// SlotID identifies one slot of a request: the Keccak-256 hash of the ABI
// encoding of (RequestID, slot index as uint256) (MARKET.md §1.3). Build it
// with SlotIDFor. Text forms are those of RequestID.
type SlotID [32]byte

// Address is a 20-byte account address (a client, a host, a validator or the
// market itself). Its text form is "0x" followed by 40 lowercase hex digits.
type Address [20]byte

// Challenge is the 32-byte proof challenge of a slot for a period
// (MARKET.md §5.2). Its text form is that of RequestID.
type Challenge [32]byte

// Proof is an opaque storage proof, as produced by the node's OnProve
// callback and checked by the market's verifier. A Groth16 proof on chain; a
// byte string the simulated market checks with its configured verifier.
type Proof []byte

// String returns the id as "0x" and 64 lowercase hex digits.
func (id RequestID) String() string { return encode0x(id[:]) }

// Hex returns the id as 64 lowercase hex digits with no prefix (the form
// used in datastore keys).
func (id RequestID) Hex() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero id.
func (id RequestID) IsZero() bool { return id == RequestID{} }

// MarshalText implements encoding.TextMarshaler with the "0x" form.
func (id RequestID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler. It accepts exactly "0x"
// followed by 64 hex digits (either case); anything else returns an error
// wrapping ErrInvalidID and leaves id unchanged.
func (id *RequestID) UnmarshalText(b []byte) error { return decode0x(b, id[:], "request id") }

// ParseRequestID parses the "0x" text form of a RequestID (see
// RequestID.UnmarshalText). Errors wrap ErrInvalidID.
func ParseRequestID(s string) (RequestID, error) {
	var id RequestID
	err := id.UnmarshalText([]byte(s))
	return id, err
}

// String returns the id as "0x" and 64 lowercase hex digits.
func (id SlotID) String() string { return encode0x(id[:]) }

// Hex returns the id as 64 lowercase hex digits with no prefix.
func (id SlotID) Hex() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero id.
func (id SlotID) IsZero() bool { return id == SlotID{} }

// MarshalText implements encoding.TextMarshaler with the "0x" form.
func (id SlotID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler. It accepts exactly "0x"
// followed by 64 hex digits (either case); anything else returns an error
// wrapping ErrInvalidID and leaves id unchanged.
func (id *SlotID) UnmarshalText(b []byte) error { return decode0x(b, id[:], "slot id") }

// ParseSlotID parses the "0x" text form of a SlotID (see
// SlotID.UnmarshalText). Errors wrap ErrInvalidID.
func ParseSlotID(s string) (SlotID, error) {
	var id SlotID
	err := id.UnmarshalText([]byte(s))
	return id, err
}

// String returns the challenge as "0x" and 64 lowercase hex digits.
func (c Challenge) String() string { return encode0x(c[:]) }

// MarshalText implements encoding.TextMarshaler with the "0x" form.
func (c Challenge) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; the rules are those of
// RequestID.UnmarshalText.
func (c *Challenge) UnmarshalText(b []byte) error { return decode0x(b, c[:], "challenge") }

// String returns the address as "0x" and 40 lowercase hex digits (no EIP-55
// checksum casing).
func (a Address) String() string { return encode0x(a[:]) }

// Hex returns the address as 40 lowercase hex digits with no prefix.
func (a Address) Hex() string { return hex.EncodeToString(a[:]) }

// IsZero reports whether a is the zero address, which the market uses for
// "no host".
func (a Address) IsZero() bool { return a == Address{} }

// MarshalText implements encoding.TextMarshaler with the "0x" form.
func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler. It accepts exactly "0x"
// followed by 40 hex digits in any case (so EIP-55 checksummed addresses are
// accepted; the checksum is not verified). Errors wrap ErrInvalidAddress.
func (a *Address) UnmarshalText(b []byte) error {
	var tmp Address
	if err := decodeHex0x(b, tmp[:]); err != nil {
		return fmt.Errorf("%w %s: %v", ErrInvalidAddress, quoteShort(b), err)
	}
	*a = tmp
	return nil
}

// ParseAddress parses the "0x" text form of an Address (see
// Address.UnmarshalText). Errors wrap ErrInvalidAddress.
func ParseAddress(s string) (Address, error) {
	var a Address
	err := a.UnmarshalText([]byte(s))
	return a, err
}

func encode0x(b []byte) string {
	out := make([]byte, 2+2*len(b))
	out[0], out[1] = '0', 'x'
	hex.Encode(out[2:], b)
	return string(out)
}

// decode0x decodes "0x"+hex into dst, which is left untouched on error.
func decode0x(b []byte, dst []byte, what string) error {
	tmp := make([]byte, len(dst))
	if err := decodeHex0x(b, tmp); err != nil {
		return fmt.Errorf("%w: %s %s: %v", ErrInvalidID, what, quoteShort(b), err)
	}
	copy(dst, tmp)
	return nil
}

func decodeHex0x(b []byte, dst []byte) error {
	if len(b) != 2+2*len(dst) {
		return fmt.Errorf("want %d characters, got %d", 2+2*len(dst), len(b))
	}
	if b[0] != '0' || b[1] != 'x' {
		return errors.New(`missing "0x" prefix`)
	}
	if _, err := hex.Decode(dst, b[2:]); err != nil {
		return err
	}
	return nil
}

// quoteShort quotes untrusted input for an error message, truncated so a
// huge input does not produce a huge error.
func quoteShort(b []byte) string {
	const max = 80
	if len(b) > max {
		return fmt.Sprintf("%q...", b[:max])
	}
	return fmt.Sprintf("%q", b)
}
