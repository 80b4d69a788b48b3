package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hostsales/hostsales/reservations"
)

// msgRange is the reference's parser message for a negative or overflowing
// integer (SPEC §1.7, §8.7), passed to the client verbatim.
const msgRange = "Parsed integer outside of valid range"

// badRequest is a request the server refuses before doing anything: its
// status (400 or 413) and the plain-text message for the client.
type badRequest struct {
	status int
	msg    string
}

func (e *badRequest) Error() string { return e.msg }

func bad(format string, args ...any) *badRequest {
	return &badRequest{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// field is one member of a request object: the decoder to run on its
// value, and whether it is required.
type field struct {
	name     string
	required bool
	decode   func(raw []byte) error
}

// readBody reads the whole body, at most limit bytes (413 beyond), and
// checks that it is exactly one JSON value with nothing after it.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	b, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &badRequest{status: http.StatusRequestEntityTooLarge,
				msg: fmt.Sprintf("Request body is larger than %d bytes", mbe.Limit)}
		}
		return nil, bad("Cannot read the request body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, bad("Request body is empty: expected a JSON object")
	}
	if !utf8.Valid(b) {
		return nil, bad("Request body is not valid UTF-8")
	}
	return b, nil
}

// decodeObject parses b as one JSON object and hands each member to its
// field's decoder, in the order of fields. It refuses (400) anything but a
// single object, trailing data, unknown and duplicate members, and
// missing required members; a member whose value is null counts as
// absent. The message names the member at fault, except for the
// reference's range message, which is passed on verbatim.
func decodeObject(b []byte, fields []field) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return bad("Invalid JSON: %s", jsonMsg(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return bad("Invalid JSON: expected an object")
	}
	raw := make(map[string]json.RawMessage, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bad("Invalid JSON: %s", jsonMsg(err))
		}
		name, ok := tok.(string)
		if !ok {
			return bad("Invalid JSON: expected a member name")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return bad("Invalid JSON: %s", jsonMsg(err))
		}
		if _, dup := raw[name]; dup {
			return bad("Duplicate field: %s", short(name))
		}
		known := false
		for _, f := range fields {
			if f.name == name {
				known = true
				break
			}
		}
		if !known {
			return bad("Unknown field: %s", short(name))
		}
		raw[name] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return bad("Invalid JSON: %s", jsonMsg(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return bad("Invalid JSON: unexpected data after the object")
	}
	for _, f := range fields {
		v, ok := raw[f.name]
		if ok && bytes.Equal(v, []byte("null")) {
			ok = false
		}
		if !ok {
			if f.required {
				return bad("Missing required field: %s", f.name)
			}
			continue
		}
		if err := f.decode(v); err != nil {
			if err.Error() == msgRange {
				return bad(msgRange)
			}
			return bad("Invalid %s: %s", f.name, jsonMsg(err))
		}
	}
	return nil
}

// jsonMsg turns a decoding error into a short message without Go type
// names.
func jsonMsg(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("expected %s, got %s", jsonKind(te.Type.Kind().String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected end of input"
	}
	return short(err.Error())
}

func jsonKind(k string) string {
	switch k {
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	}
	return "a number"
}

// short bounds a message taken from the input.
func short(s string) string {
	const max = 100
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func u64Field(name string, required bool, dst **reservations.U64) field {
	return field{name: name, required: required, decode: func(raw []byte) error {
		var v reservations.U64
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		*dst = &v
		return nil
	}}
}

func i64Field(name string, dst **reservations.I64) field {
	return field{name: name, decode: func(raw []byte) error {
		var v reservations.I64
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		*dst = &v
		return nil
	}}
}

func u256Field(name string, required bool, dst **reservations.U256) field {
	return field{name: name, required: required, decode: func(raw []byte) error {
		var v reservations.U256
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		*dst = &v
		return nil
	}}
}

func boolField(name string, dst **bool) field {
	return field{name: name, decode: func(raw []byte) error {
		var v bool
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		*dst = &v
		return nil
	}}
}

// decodeCreate parses a POST /sales/availability body (SPEC §7 step 1).
func decodeCreate(b []byte) (CreateAvailabilityRequest, error) {
	var r CreateAvailabilityRequest
	err := decodeObject(b, []field{
		u64Field("totalSize", true, &r.TotalSize),
		u64Field("duration", true, &r.Duration),
		u256Field("minPricePerBytePerSecond", true, &r.MinPricePerBytePerSecond),
		u256Field("totalCollateral", true, &r.TotalCollateral),
		u64Field("freeSize", false, &r.FreeSize),
		boolField("enabled", &r.Enabled),
		i64Field("until", &r.Until),
	})
	return r, err
}

// decodeUpdate parses a PATCH /sales/availability/{id} body.
func decodeUpdate(b []byte) (UpdateAvailabilityRequest, error) {
	var r UpdateAvailabilityRequest
	err := decodeObject(b, []field{
		u64Field("totalSize", false, &r.TotalSize),
		u64Field("freeSize", false, &r.FreeSize),
		u64Field("duration", false, &r.Duration),
		u256Field("minPricePerBytePerSecond", false, &r.MinPricePerBytePerSecond),
		u256Field("totalCollateral", false, &r.TotalCollateral),
		boolField("enabled", &r.Enabled),
		i64Field("until", &r.Until),
	})
	return r, err
}

// parseLimit parses the optional ?limit= of a list: a decimal count, or
// absent (-1: no limit).
func parseLimit(r *http.Request) (int, error) {
	vals, ok := r.URL.Query()["limit"]
	if !ok {
		return -1, nil
	}
	if len(vals) != 1 {
		return 0, bad("Invalid limit: given more than once")
	}
	s := vals[0]
	if strings.HasPrefix(s, "-") {
		return 0, bad("Invalid limit: %s", msgRange)
	}
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, bad("Invalid limit: %s", msgRange)
		}
		return 0, bad("Invalid limit: %q is not a non-negative integer", short(s))
	}
	return int(n), nil
}
