package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// badCase is one malformed request and the answer it must get.
type badCase struct {
	name   string
	method string
	path   string // under BasePath; "{id}" is replaced by an existing availability's id
	body   string
	status int
	msg    string // exact; "" checks only the status and that there is a message
}

const maxU64 = "18446744073709551615"

var overU64 = "18446744073709551616"

var overU256 = "1" + strings.Repeat("0", 78)

// badCreateBodies are POST /sales/availability bodies, refused with 400
// (or 413); they seed FuzzCreateAvailability.
var badCreateBodies = []struct {
	name, body, msg string
}{
	{"empty", ``, "Request body is empty: expected a JSON object"},
	{"whitespace", "  \n\t", "Request body is empty: expected a JSON object"},
	{"not json", `totalSize=1`, ""},
	{"array", `[]`, "Invalid JSON: expected an object"},
	{"string", `"x"`, "Invalid JSON: expected an object"},
	{"number", `1`, "Invalid JSON: expected an object"},
	{"null", `null`, "Invalid JSON: expected an object"},
	{"unterminated", `{"totalSize":1`, ""},
	{"trailing comma", `{"totalSize":1,}`, ""},
	{"trailing garbage", validCreate + `x`, "Invalid JSON: unexpected data after the object"},
	{"two objects", validCreate + validCreate, "Invalid JSON: unexpected data after the object"},
	{"trailing array", validCreate + `[]`, "Invalid JSON: unexpected data after the object"},
	{"unknown field", `{"totalSize":1,"duration":1,"minPricePerBytePerSecond":1,"totalCollateral":1,"size":1}`,
		"Unknown field: size"},
	{"reference #535 field names", `{"size":"1","duration":"1","minPrice":"1","maxCollateral":"1"}`, "Unknown field: size"},
	{"duplicate field", `{"totalSize":1,"totalSize":2,"duration":1,"minPricePerBytePerSecond":1,"totalCollateral":1}`,
		"Duplicate field: totalSize"},
	{"missing totalSize", `{"duration":1,"minPricePerBytePerSecond":1,"totalCollateral":1}`,
		"Missing required field: totalSize"},
	{"null totalSize", `{"totalSize":null,"duration":1,"minPricePerBytePerSecond":1,"totalCollateral":1}`,
		"Missing required field: totalSize"},
	{"missing collateral", `{"totalSize":1,"duration":1,"minPricePerBytePerSecond":1}`,
		"Missing required field: totalCollateral"},
	{"empty object", `{}`, "Missing required field: totalSize"},
	{"negative totalSize", createBody(map[string]any{"totalSize": "-1"}), "Parsed integer outside of valid range"},
	{"negative totalSize number", createBody(map[string]any{"totalSize": -1}), "Parsed integer outside of valid range"},
	{"overflowing totalSize", createBody(map[string]any{"totalSize": overU64}), "Parsed integer outside of valid range"},
	{"overflowing totalSize number", `{"totalSize":` + overU64 + `,"duration":1,"minPricePerBytePerSecond":1,"totalCollateral":1}`,
		"Parsed integer outside of valid range"},
	{"negative duration", createBody(map[string]any{"duration": -5}), "Parsed integer outside of valid range"},
	{"negative price", createBody(map[string]any{"minPricePerBytePerSecond": "-1"}), "Parsed integer outside of valid range"},
	{"overflowing price", createBody(map[string]any{"minPricePerBytePerSecond": overU256}), "Parsed integer outside of valid range"},
	{"overflowing hex collateral", createBody(map[string]any{"totalCollateral": "0x1" + strings.Repeat("0", 64)}),
		"Parsed integer outside of valid range"},
	{"overflowing until", createBody(map[string]any{"until": "9223372036854775808"}), "Parsed integer outside of valid range"},
	{"fractional totalSize", createBody(map[string]any{"totalSize": 1.5}), `Invalid totalSize: invalid unsigned integer "1.5"`},
	{"exponent totalSize", `{"totalSize":1e3,"duration":1,"minPricePerBytePerSecond":1,"totalCollateral":1}`,
		`Invalid totalSize: invalid unsigned integer "1e3"`},
	{"bool totalSize", createBody(map[string]any{"totalSize": true}), "Invalid totalSize: expected a number, got true"},
	{"object duration", createBody(map[string]any{"duration": map[string]any{}}), "Invalid duration: expected a number, got {}"},
	{"array price", createBody(map[string]any{"minPricePerBytePerSecond": []int{1}}),
		"Invalid minPricePerBytePerSecond: expected a number, got [1]"},
	{"word totalSize", createBody(map[string]any{"totalSize": "ten"}), `Invalid totalSize: invalid unsigned integer "ten"`},
	{"bad hex price", createBody(map[string]any{"minPricePerBytePerSecond": "0xzz"}),
		`Invalid minPricePerBytePerSecond: invalid integer "0xzz"`},
	{"string enabled", createBody(map[string]any{"enabled": "true"}), "Invalid enabled: expected a boolean, got string"},
	{"number enabled", createBody(map[string]any{"enabled": 1}), "Invalid enabled: expected a boolean, got number"},
	{"word until", createBody(map[string]any{"until": "soon"}), `Invalid until: invalid integer "soon"`},
	{"invalid utf-8", "{\"totalSize\":\"\xff\"}", "Request body is not valid UTF-8"},
}

func TestBadInput(t *testing.T) {
	n := newNode(t, nodeOptions{maxBody: 4096})
	a := n.createAvailability(10000)
	n.reserve(a, 100, 0)
	id := a.ID.String()
	huge := `{"totalSize":"` + strings.Repeat("9", 5000) + `"}`

	var cases []badCase
	for _, c := range badCreateBodies {
		cases = append(cases, badCase{"POST " + c.name, http.MethodPost, "/sales/availability", c.body,
			http.StatusBadRequest, c.msg})
	}
	cases = append(cases, []badCase{
		{"POST huge body", http.MethodPost, "/sales/availability", huge, http.StatusRequestEntityTooLarge,
			"Request body is larger than 4096 bytes"},
		{"PATCH huge body", http.MethodPatch, "/sales/availability/{id}", huge, http.StatusRequestEntityTooLarge,
			"Request body is larger than 4096 bytes"},
		{"PATCH empty body", http.MethodPatch, "/sales/availability/{id}", "", http.StatusBadRequest,
			"Request body is empty: expected a JSON object"},
		{"PATCH array", http.MethodPatch, "/sales/availability/{id}", `[{"duration":1}]`, http.StatusBadRequest,
			"Invalid JSON: expected an object"},
		{"PATCH unknown field", http.MethodPatch, "/sales/availability/{id}", `{"durration":1}`, http.StatusBadRequest,
			"Unknown field: durration"},
		{"PATCH trailing garbage", http.MethodPatch, "/sales/availability/{id}", `{"duration":1} 1`, http.StatusBadRequest,
			"Invalid JSON: unexpected data after the object"},
		{"PATCH negative totalSize", http.MethodPatch, "/sales/availability/{id}", `{"totalSize":"-1"}`,
			http.StatusBadRequest, "Parsed integer outside of valid range"},
		{"PATCH overflowing duration", http.MethodPatch, "/sales/availability/{id}", `{"duration":` + overU64 + `}`,
			http.StatusBadRequest, "Parsed integer outside of valid range"},
		{"PATCH overflowing collateral", http.MethodPatch, "/sales/availability/{id}",
			`{"totalCollateral":"` + overU256 + `"}`, http.StatusBadRequest, "Parsed integer outside of valid range"},
		{"PATCH string enabled", http.MethodPatch, "/sales/availability/{id}", `{"enabled":"no"}`, http.StatusBadRequest,
			"Invalid enabled: expected a boolean, got string"},
		{"PATCH duplicate", http.MethodPatch, "/sales/availability/{id}", `{"until":1,"until":2}`, http.StatusBadRequest,
			"Duplicate field: until"},
		{"PATCH freeSize max", http.MethodPatch, "/sales/availability/{id}", `{"freeSize":` + maxU64 + `}`,
			http.StatusUnprocessableEntity, "Updating freeSize is not allowed"},
		{"PATCH totalSize max", http.MethodPatch, "/sales/availability/{id}", `{"totalSize":"` + maxU64 + `"}`,
			http.StatusUnprocessableEntity, "Not enough storage quota"},
		{"PATCH min int64 until", http.MethodPatch, "/sales/availability/{id}", `{"until":-9223372036854775808}`,
			http.StatusUnprocessableEntity, "Cannot set until to a negative value"},
		{"POST max totalSize", http.MethodPost, "/sales/availability", createBody(map[string]any{"totalSize": maxU64}),
			http.StatusUnprocessableEntity, "Not enough storage quota"},

		{"short id", http.MethodGet, "/sales/availability/0x12", "", http.StatusBadRequest,
			`Invalid availability id "0x12": expected 0x and 64 hex digits`},
		{"long id", http.MethodGet, "/sales/availability/0x" + strings.Repeat("12", 33), "", http.StatusBadRequest, ""},
		{"non-hex id", http.MethodPatch, "/sales/availability/0x" + strings.Repeat("zz", 32), `{}`, http.StatusBadRequest, ""},
		{"very long id", http.MethodDelete, "/sales/availability/" + strings.Repeat("a", 2000), "", http.StatusBadRequest,
			`Invalid availability id "` + strings.Repeat("a", 100) + `…": expected 0x and 64 hex digits`},
		{"escaped id", http.MethodGet, "/sales/availability/0x%00" + strings.Repeat("1", 62), "", http.StatusBadRequest, ""},
		{"id with unicode", http.MethodGet, "/sales/availability/0x" + strings.Repeat("é", 32), "", http.StatusBadRequest, ""},
		{"reservations of bad id", http.MethodGet, "/sales/availability/xyz/reservations", "", http.StatusBadRequest, ""},
		{"bare hex slot id", http.MethodGet, "/sales/slots/" + strings.Repeat("ab", 32), "", http.StatusBadRequest, ""},
		{"slot id uppercase X", http.MethodGet, "/sales/slots/0X" + strings.Repeat("ab", 32), "", http.StatusBadRequest, ""},
		{"slot log bad id", http.MethodGet, "/sales/slots/0x/log", "", http.StatusBadRequest, ""},

		{"queue negative limit", http.MethodGet, "/sales/queue?limit=-1", "", http.StatusBadRequest,
			"Invalid limit: Parsed integer outside of valid range"},
		{"queue overflowing limit", http.MethodGet, "/sales/queue?limit=" + overU64, "", http.StatusBadRequest,
			"Invalid limit: Parsed integer outside of valid range"},
		{"queue word limit", http.MethodGet, "/sales/queue?limit=ten", "", http.StatusBadRequest,
			`Invalid limit: "ten" is not a non-negative integer`},
		{"queue empty limit", http.MethodGet, "/sales/queue?limit=", "", http.StatusBadRequest,
			`Invalid limit: "" is not a non-negative integer`},
		{"queue fractional limit", http.MethodGet, "/sales/queue?limit=1.5", "", http.StatusBadRequest, ""},
		{"queue limit twice", http.MethodGet, "/sales/queue?limit=1&limit=2", "", http.StatusBadRequest,
			"Invalid limit: given more than once"},
	}...)

	before := n.snapshot()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := strings.ReplaceAll(c.path, "{id}", id)
			n.expect(c.method, path, c.body, c.status, c.msg)
		})
	}
	after := n.snapshot()
	assert.Equal(t, before, after, "refused requests change nothing")

	// The node still serves.
	list, err := n.Client.Availabilities(n.ctx)
	require.NoError(t, err)
	assert.Equal(t, before.Availabilities, list)
	n.expect(http.MethodPatch, "/sales/availability/"+id, `{"duration":7}`, http.StatusNoContent, "")
	n.expect(http.MethodGet, "/sales/queue?limit=0", "", http.StatusOK, "")
}

// Lenient forms the reference accepts (SPEC §1.7) are accepted.
func TestLenientNumbers(t *testing.T) {
	n := newNode(t, nodeOptions{})
	for _, c := range []struct{ name, body string }{
		{"numbers", `{"totalSize":10,"duration":1,"minPricePerBytePerSecond":1,"totalCollateral":1}`},
		{"strings", `{"totalSize":"10","duration":"1","minPricePerBytePerSecond":"1","totalCollateral":"1"}`},
		{"prefixed amounts", `{"totalSize":10,"duration":1,"minPricePerBytePerSecond":"0x1f","totalCollateral":"0b101"}`},
		{"octal amount", `{"totalSize":10,"duration":1,"minPricePerBytePerSecond":"0o17","totalCollateral":"1"}`},
		{"max amount", `{"totalSize":10,"duration":1,"minPricePerBytePerSecond":"1","totalCollateral":"` +
			"115792089237316195423570985008687907853269984665640564039457584007913129639935" + `"}`},
		{"null optionals", `{"totalSize":10,"duration":1,"minPricePerBytePerSecond":1,"totalCollateral":1,"enabled":null,"until":null,"freeSize":null}`},
		{"string until", `{"totalSize":10,"duration":1,"minPricePerBytePerSecond":1,"totalCollateral":1,"until":"5"}`},
		{"whitespace", " \n{ \"totalSize\" : 10 , \"duration\":1,\"minPricePerBytePerSecond\":1,\"totalCollateral\":1 } \n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n.expect(http.MethodPost, "/sales/availability", c.body, http.StatusCreated, "")
		})
	}
	// "" reads as 0 (SPEC §1.7), so it is refused as a zero size.
	n.expect(http.MethodPost, "/sales/availability",
		`{"totalSize":"","duration":1,"minPricePerBytePerSecond":1,"totalCollateral":1}`,
		http.StatusUnprocessableEntity, "Total size must be larger then zero")
}
