package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/api"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/sales"
)

// Reference: SPEC.md §8.7 (testrestapivalidation.nim and
// testsales.nim.ignore) and the status codes of SPEC.md §7. Every response
// is validated against openapi.yaml by the node's client.

const validCreate = `{"totalSize":"10000","duration":"3600","minPricePerBytePerSecond":"1","totalCollateral":"10000"}`

func createBody(overrides map[string]any) string {
	m := map[string]any{"totalSize": "10000", "duration": "3600", "minPricePerBytePerSecond": "1",
		"totalCollateral": "10000"}
	for k, v := range overrides {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// ---- SPEC §8.7: testrestapivalidation.nim ----

func TestSpec87_UpdateNonExistingAvailability_404(t *testing.T) {
	n := newNode(t, nodeOptions{})
	before := n.snapshot()
	n.expect(http.MethodPatch, "/sales/availability/0x"+strings.Repeat("ab", 32), `{"duration":"100"}`,
		http.StatusNotFound, "Availability not found")
	assert.Equal(t, before, n.snapshot(), "hostsales writes nothing for an unknown id")
}

func TestSpec87_PatchFreeSize_422(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(10000)
	n.expect(http.MethodPatch, availPath(a.ID), `{"freeSize":"1"}`, http.StatusUnprocessableEntity,
		"Updating freeSize is not allowed")
	assert.Contains(t, "Updating freeSize is not allowed", "not allowed")
}

func TestSpec87_CreateAboveQuota_422(t *testing.T) {
	n := newNode(t, nodeOptions{})
	n.expect(http.MethodPost, "/sales/availability", createBody(map[string]any{"totalSize": defaultQuota + 1}),
		http.StatusUnprocessableEntity, "Not enough storage quota")
	// hasAvailable is strict: exactly the free quota is refused too.
	n.expect(http.MethodPost, "/sales/availability", createBody(map[string]any{"totalSize": defaultQuota}),
		http.StatusUnprocessableEntity, "Not enough storage quota")
}

func TestSpec87_UpdateAboveQuota_422(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(10000)
	n.expect(http.MethodPatch, availPath(a.ID), fmt.Sprintf(`{"totalSize":%d}`, defaultQuota+1),
		http.StatusUnprocessableEntity, "Not enough storage quota")
}

func TestSpec87_TotalSizeZero_422(t *testing.T) {
	n := newNode(t, nodeOptions{})
	n.expect(http.MethodPost, "/sales/availability", createBody(map[string]any{"totalSize": 0}),
		http.StatusUnprocessableEntity, "Total size must be larger then zero")
	a := n.createAvailability(10000)
	n.expect(http.MethodPatch, availPath(a.ID), `{"totalSize":0}`,
		http.StatusUnprocessableEntity, "Total size must be larger then zero")
}

func TestSpec87_TotalSizeNegative_400(t *testing.T) {
	n := newNode(t, nodeOptions{})
	n.expect(http.MethodPost, "/sales/availability", createBody(map[string]any{"totalSize": "-1"}),
		http.StatusBadRequest, "Parsed integer outside of valid range")
	a := n.createAvailability(10000)
	n.expect(http.MethodPatch, availPath(a.ID), `{"totalSize":"-1"}`,
		http.StatusBadRequest, "Parsed integer outside of valid range")
}

func TestSpec87_CreateUntilNegative_422(t *testing.T) {
	n := newNode(t, nodeOptions{})
	n.expect(http.MethodPost, "/sales/availability", createBody(map[string]any{"until": -1}),
		http.StatusUnprocessableEntity, "Cannot set until to a negative value")
}

func TestSpec87_DurationZero_422(t *testing.T) {
	n := newNode(t, nodeOptions{})
	n.expect(http.MethodPost, "/sales/availability", createBody(map[string]any{"duration": 0}),
		http.StatusUnprocessableEntity, "duration must be larger then zero")
}

func TestSpec87_MinPriceZero_422(t *testing.T) {
	n := newNode(t, nodeOptions{})
	n.expect(http.MethodPost, "/sales/availability", createBody(map[string]any{"minPricePerBytePerSecond": "0"}),
		http.StatusUnprocessableEntity, "minPricePerBytePerSecond must be larger then zero")
}

func TestSpec87_TotalCollateralZero_422(t *testing.T) {
	n := newNode(t, nodeOptions{})
	n.expect(http.MethodPost, "/sales/availability", createBody(map[string]any{"totalCollateral": "0"}),
		http.StatusUnprocessableEntity, "totalCollateral must be larger then zero")
}

// SPEC §7: the checks run in order; duration 0 with until -1 gives the
// duration message.
func TestSpec7_CreateCheckOrder(t *testing.T) {
	n := newNode(t, nodeOptions{})
	n.expect(http.MethodPost, "/sales/availability", createBody(map[string]any{"duration": 0, "until": -1}),
		http.StatusUnprocessableEntity, "duration must be larger then zero")
	n.expect(http.MethodPost, "/sales/availability",
		createBody(map[string]any{"totalSize": 0, "duration": 0, "minPricePerBytePerSecond": "0", "totalCollateral": "0"}),
		http.StatusUnprocessableEntity, "Total size must be larger then zero")
	n.expect(http.MethodPost, "/sales/availability",
		createBody(map[string]any{"duration": 0, "minPricePerBytePerSecond": "0", "totalCollateral": "0"}),
		http.StatusUnprocessableEntity, "duration must be larger then zero")
	n.expect(http.MethodPost, "/sales/availability",
		createBody(map[string]any{"minPricePerBytePerSecond": "0", "totalCollateral": "0"}),
		http.StatusUnprocessableEntity, "minPricePerBytePerSecond must be larger then zero")
	n.expect(http.MethodPost, "/sales/availability",
		createBody(map[string]any{"totalCollateral": "0", "totalSize": defaultQuota * 2}),
		http.StatusUnprocessableEntity, "totalCollateral must be larger then zero")
	n.expect(http.MethodPost, "/sales/availability",
		createBody(map[string]any{"totalSize": defaultQuota * 2, "until": -1}),
		http.StatusUnprocessableEntity, "Not enough storage quota")
	// A parse error comes before everything.
	n.expect(http.MethodPost, "/sales/availability", createBody(map[string]any{"totalSize": 0, "duration": "-1"}),
		http.StatusBadRequest, "Parsed integer outside of valid range")
	assert.Empty(t, n.snapshot().Availabilities)
}

// ---- SPEC §8.7: testsales.nim.ignore ----

func TestSpec87_PatchUpdatesFieldsButNotSizes(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(10000)
	require.NoError(t, n.Client.UpdateAvailability(n.ctx, a.ID, api.UpdateAvailabilityRequest{
		Duration: u64(50), MinPricePerBytePerSecond: u256(7), TotalCollateral: u256(12345),
		Enabled: boolp(false), Until: i64(marketStart + 100)}))
	got, err := n.Client.Availability(n.ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, uint64(50), got.Duration)
	assert.Equal(t, uint64(7), got.MinPricePerBytePerSecond.Uint64())
	assert.Equal(t, uint64(12345), got.TotalCollateral.Uint64())
	assert.Equal(t, uint64(12345), got.TotalRemainingCollateral.Uint64())
	assert.False(t, got.Enabled)
	assert.Equal(t, int64(marketStart+100), got.Until)
	assert.Equal(t, a.TotalSize, got.TotalSize)
	assert.Equal(t, a.FreeSize, got.FreeSize)
}

func TestSpec87_PatchLowerTotalSizeLowersFreeSize(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(100000)
	n.reserve(a, 30000, 0)
	require.NoError(t, n.Client.UpdateAvailability(n.ctx, a.ID, api.UpdateAvailabilityRequest{TotalSize: u64(90000)}))
	got, err := n.Client.Availability(n.ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, uint64(90000), got.TotalSize)
	assert.Equal(t, uint64(60000), got.FreeSize)
}

func TestSpec87_PatchBelowUtilisedSize_422(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(100000)
	n.reserve(a, 30000, 0)
	n.expect(http.MethodPatch, availPath(a.ID), `{"totalSize":29999}`, http.StatusUnprocessableEntity,
		"New totalSize must be larger then current totalSize - freeSize, which is currently: 30000")
	// Exactly what is held is allowed.
	require.NoError(t, n.Client.UpdateAvailability(n.ctx, a.ID, api.UpdateAvailabilityRequest{TotalSize: u64(30000)}))
}

func TestSpec87_PatchRaiseTotalSizeRaisesFreeSize(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(100000)
	n.reserve(a, 30000, 0)
	require.NoError(t, n.Client.UpdateAvailability(n.ctx, a.ID, api.UpdateAvailabilityRequest{TotalSize: u64(120000)}))
	got, err := n.Client.Availability(n.ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, uint64(120000), got.TotalSize)
	assert.Equal(t, uint64(90000), got.FreeSize)
	assert.Equal(t, uint64(120000), n.Repo.Quota().Reserved)
}

func TestSpec87_PatchUntilNegative_422(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(10000)
	n.expect(http.MethodPatch, availPath(a.ID), `{"until":-1}`, http.StatusUnprocessableEntity,
		"Cannot set until to a negative value")
}

func TestSpec87_PatchUntilBeforeRunningRequestEnd_422(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(100000)
	req := n.fillSlot(1024, 1)
	res, err := n.Client.Reservations(n.ctx, a.ID)
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Equal(t, req.ID(), res[0].RequestID)
	end := res[0].ValidUntil
	n.expect(http.MethodPatch, availPath(a.ID), fmt.Sprintf(`{"until":%d}`, end-1), http.StatusUnprocessableEntity,
		"Until parameter must be greater or equal to the longest currently hosted slot")
	require.NoError(t, n.Client.UpdateAvailability(n.ctx, a.ID, api.UpdateAvailabilityRequest{Until: i64(end)}))
}

// ---- SPEC §7, by endpoint and status ----

func TestSpec7_SalesNil_503(t *testing.T) {
	n := newNode(t, nodeOptions{noSales: true})
	id := "/0x" + strings.Repeat("00", 32)
	for _, c := range []struct{ method, path, body string }{
		{http.MethodGet, "/sales/slots", ""},
		{http.MethodGet, "/sales/slots" + id, ""},
		{http.MethodGet, "/sales/slots" + id + "/log", ""},
		{http.MethodGet, "/sales/availability", ""},
		{http.MethodPost, "/sales/availability", validCreate},
		{http.MethodGet, "/sales/availability" + id, ""},
		{http.MethodPatch, "/sales/availability" + id, `{}`},
		{http.MethodDelete, "/sales/availability" + id, ""},
		{http.MethodGet, "/sales/availability" + id + "/reservations", ""},
		{http.MethodGet, "/sales/reservations", ""},
		{http.MethodGet, "/sales/queue", ""},
		// Even a malformed id or body: the role is checked first.
		{http.MethodGet, "/sales/slots/zz", ""},
		{http.MethodPost, "/sales/availability", `{`},
	} {
		t.Run(c.method+c.path, func(t *testing.T) {
			n.expect(c.method, c.path, c.body, http.StatusServiceUnavailable, "Persistence is not enabled")
		})
	}
	// /space and the preflight need no sales role.
	st, _, _ := n.do(http.MethodGet, "/space", nil)
	assert.Equal(t, http.StatusOK, st)
	st, _, _ = n.do(http.MethodOptions, "/sales/availability"+id, nil)
	assert.Equal(t, http.StatusNoContent, st)
}

func TestSpec7_SpaceWithoutRepo_503(t *testing.T) {
	n := newNode(t, nodeOptions{noSales: true, noRepo: true})
	n.expect(http.MethodGet, "/space", "", http.StatusServiceUnavailable, "Persistence is not enabled")
}

func TestSpec7_GetSlots_200(t *testing.T) {
	n := newNode(t, nodeOptions{})
	slots, err := n.Client.Slots(n.ctx)
	require.NoError(t, err)
	assert.Empty(t, slots)
	st, body, _ := n.do(http.MethodGet, "/sales/slots", nil)
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, "[]", body, "an empty list is [], not null")

	n.createAvailability(100000)
	req := n.fillSlot(1024, 1)
	slots, err = n.Client.Slots(n.ctx)
	require.NoError(t, err)
	require.Len(t, slots, 1)
	assert.Equal(t, req.SlotID(0), slots[0].ID)
	assert.Equal(t, req.ID(), slots[0].Request.ID())
	assert.Equal(t, uint64(0), slots[0].SlotIndex)
	// The request carries its id (SPEC §7).
	_, body, _ = n.do(http.MethodGet, "/sales/slots", nil)
	var raw []struct {
		Request struct {
			ID string `json:"id"`
		} `json:"request"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &raw))
	assert.Equal(t, req.ID().String(), raw[0].Request.ID)
}

func TestSpec7_GetSlots_500(t *testing.T) {
	n := newNode(t, nodeOptions{})
	require.NoError(t, n.Market.InjectFault(simmarketFault("MySlots")))
	st, body, _ := n.do(http.MethodGet, "/sales/slots", nil)
	assert.Equal(t, http.StatusInternalServerError, st)
	assert.Contains(t, body, "injected fault")
}

func TestSpec7_GetSlot_400_InvalidHex(t *testing.T) {
	n := newNode(t, nodeOptions{})
	n.expect(http.MethodGet, "/sales/slots/0x1234", "", http.StatusBadRequest,
		`Invalid slot id "0x1234": expected 0x and 64 hex digits`)
	n.expect(http.MethodGet, "/sales/slots/0x"+strings.Repeat("zz", 32), "", http.StatusBadRequest, "")
}

func TestSpec7_GetSlot_404_NotFilling(t *testing.T) {
	n := newNode(t, nodeOptions{})
	n.expect(http.MethodGet, "/sales/slots/0x"+strings.Repeat("12", 32), "", http.StatusNotFound,
		"Provider not filling slot")
}

func TestSpec7_GetSlot_200(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(100000)
	req := n.fillSlot(1024, 1)
	d, err := n.Client.Slot(n.ctx, req.SlotID(0))
	require.NoError(t, err)
	assert.Equal(t, string(sales.StateProving), d.State)
	assert.Equal(t, req.ID(), d.RequestID)
	assert.Equal(t, uint64(0), d.SlotIndex)
	require.NotNil(t, d.Request)
	assert.Equal(t, req.ID(), d.Request.ID())
	require.NotNil(t, d.Reservation)
	assert.Equal(t, a.ID, d.Reservation.AvailabilityID)
	assert.Equal(t, uint64(1024), d.Reservation.SlotSize)
}

func TestSpec7_ListAvailabilities_200(t *testing.T) {
	n := newNode(t, nodeOptions{})
	st, body, _ := n.do(http.MethodGet, "/sales/availability", nil)
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, "[]", body)
	a := n.createAvailability(10000)
	b := n.createAvailability(20000)
	list, err := n.Client.Availabilities(n.ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []reservations.Availability{a, b}, list)
}

func TestSpec7_ListAvailabilities_500(t *testing.T) {
	n := newNode(t, nodeOptions{})
	n.createAvailability(10000)
	defer n.failCalls("query")()
	st, body, _ := n.do(http.MethodGet, "/sales/availability", nil)
	assert.Equal(t, http.StatusInternalServerError, st)
	assert.Contains(t, body, "injected query failure")
}

func TestSpec7_Create_201(t *testing.T) {
	n := newNode(t, nodeOptions{})
	st, body, hdr := n.do(http.MethodPost, "/sales/availability", jsonBody(
		`{"totalSize":10000,"duration":3600,"minPricePerBytePerSecond":"0x10","totalCollateral":20000,"freeSize":5}`))
	require.Equal(t, http.StatusCreated, st, body)
	assert.Equal(t, "application/json", hdr.Get("Content-Type"))
	var a reservations.Availability
	require.NoError(t, json.Unmarshal([]byte(body), &a))
	assert.Equal(t, uint64(10000), a.TotalSize)
	assert.Equal(t, uint64(10000), a.FreeSize, "freeSize is ignored")
	assert.Equal(t, uint64(16), a.MinPricePerBytePerSecond.Uint64())
	assert.Equal(t, uint64(20000), a.TotalRemainingCollateral.Uint64())
	assert.True(t, a.Enabled, "enabled defaults to true")
	assert.Equal(t, int64(0), a.Until)
	stored, err := n.Reservations.Availability(a.ID)
	require.NoError(t, err)
	assert.Equal(t, a, stored)
	assert.Equal(t, uint64(10000), n.Repo.Quota().Reserved)

	a2, err := n.Client.CreateAvailability(n.ctx, api.CreateAvailabilityRequest{TotalSize: u64(5), Duration: u64(1),
		MinPricePerBytePerSecond: u256(1), TotalCollateral: u256(1), Enabled: boolp(false), Until: i64(77)})
	require.NoError(t, err)
	assert.False(t, a2.Enabled)
	assert.Equal(t, int64(77), a2.Until)
}

func TestSpec7_Create_400_MissingField(t *testing.T) {
	n := newNode(t, nodeOptions{})
	for _, f := range []string{"totalSize", "duration", "minPricePerBytePerSecond", "totalCollateral"} {
		n.expect(http.MethodPost, "/sales/availability", createBody(map[string]any{f: nil}),
			http.StatusBadRequest, "Missing required field: "+f)
	}
}

func TestSpec7_Create_500_StoreError(t *testing.T) {
	n := newNode(t, nodeOptions{})
	restore := n.failCalls("put")
	st, body, _ := n.do(http.MethodPost, "/sales/availability", jsonBody(validCreate))
	restore()
	assert.Equal(t, http.StatusInternalServerError, st)
	assert.Contains(t, body, "injected put failure")
	assert.Empty(t, n.snapshot().Availabilities)
	assert.Equal(t, uint64(0), n.Repo.Quota().Reserved)
}

func TestSpec7_Options_204_CORS(t *testing.T) {
	n := newNode(t, nodeOptions{origin: "https://ops.example"})
	a := n.createAvailability(10000)
	st, body, hdr := n.do(http.MethodOptions, availPath(a.ID), nil)
	require.Equal(t, http.StatusNoContent, st)
	assert.Empty(t, body)
	assert.Equal(t, "https://ops.example", hdr.Get("Access-Control-Allow-Origin"))
	assert.Contains(t, hdr.Get("Access-Control-Allow-Methods"), "PATCH")

	plain := newNode(t, nodeOptions{})
	st, _, hdr = plain.do(http.MethodOptions, availPath(a.ID), nil)
	require.Equal(t, http.StatusNoContent, st)
	assert.Empty(t, hdr.Get("Access-Control-Allow-Origin"))
	assert.Empty(t, hdr.Get("Access-Control-Allow-Methods"))
}

func TestSpec7_Patch_204(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(10000)
	st, body, _ := n.do(http.MethodPatch, availPath(a.ID), jsonBody(`{"duration":"99","enabled":false}`))
	require.Equal(t, http.StatusNoContent, st)
	assert.Empty(t, body)
	got, err := n.Reservations.Availability(a.ID)
	require.NoError(t, err)
	assert.Equal(t, uint64(99), got.Duration)
	assert.False(t, got.Enabled)
	// Zero duration, price and collateral are accepted on PATCH (SPEC §7).
	n.expect(http.MethodPatch, availPath(a.ID), `{"duration":0,"minPricePerBytePerSecond":"0","totalCollateral":"0"}`,
		http.StatusNoContent, "")
	// An empty patch changes nothing.
	before := n.snapshot()
	n.expect(http.MethodPatch, availPath(a.ID), `{}`, http.StatusNoContent, "")
	assert.Equal(t, before, n.snapshot())
}

func TestSpec7_Patch_400_BadID(t *testing.T) {
	n := newNode(t, nodeOptions{})
	n.expect(http.MethodPatch, "/sales/availability/nothex", `{}`, http.StatusBadRequest,
		`Invalid availability id "nothex": expected 0x and 64 hex digits`)
}

func TestSpec7_Patch_400_Body(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(10000)
	n.expect(http.MethodPatch, availPath(a.ID), `{"duration":true}`, http.StatusBadRequest,
		"Invalid duration: expected a number, got true")
}

// Hostsales: PATCH totalCollateral keeps what live reservations hold.
func TestSpec7_Patch_TotalCollateralKeepsHeld(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(100000)
	r := n.reserve(a, 1000, 0) // collateral 1 per byte: 1000
	require.Equal(t, uint64(1000), r.Collateral.Uint64())
	require.NoError(t, n.Client.UpdateAvailability(n.ctx, a.ID, api.UpdateAvailabilityRequest{TotalCollateral: u256(5000)}))
	got, err := n.Client.Availability(n.ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, uint64(5000), got.TotalCollateral.Uint64())
	assert.Equal(t, uint64(4000), got.TotalRemainingCollateral.Uint64())
}

// Hostsales: growing totalSize needs the growth to fit, not the total.
func TestSpec7_Patch_GrowthChecksDelta(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(600_000)
	require.NoError(t, n.Client.UpdateAvailability(n.ctx, a.ID, api.UpdateAvailabilityRequest{TotalSize: u64(700_000)}))
	n.expect(http.MethodPatch, availPath(a.ID), `{"totalSize":1000000}`, http.StatusUnprocessableEntity,
		"Not enough storage quota")
}

func TestSpec7_Patch_500_StoreError(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(10000)
	before := n.snapshot()
	restore := n.failCalls("put")
	st, body, _ := n.do(http.MethodPatch, availPath(a.ID), jsonBody(`{"duration":5}`))
	restore()
	assert.Equal(t, http.StatusInternalServerError, st)
	assert.Contains(t, body, "injected put failure")
	assert.Equal(t, before, n.snapshot())
}

func TestSpec7_Reservations_200(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(100000)
	b := n.createAvailability(100000)
	st, body, _ := n.do(http.MethodGet, availPath(a.ID)+"/reservations", nil)
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, "[]", body)
	r1 := n.reserve(a, 100, 5)
	r2 := n.reserve(b, 200, 6)
	got, err := n.Client.Reservations(n.ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, []reservations.Reservation{r1}, got)
	got, err = n.Client.Reservations(n.ctx, b.ID)
	require.NoError(t, err)
	assert.Equal(t, []reservations.Reservation{r2}, got)
}

func TestSpec7_Reservations_400(t *testing.T) {
	n := newNode(t, nodeOptions{})
	n.expect(http.MethodGet, "/sales/availability/0x12/reservations", "", http.StatusBadRequest,
		`Invalid availability id "0x12": expected 0x and 64 hex digits`)
}

func TestSpec7_Reservations_404(t *testing.T) {
	n := newNode(t, nodeOptions{})
	n.expect(http.MethodGet, "/sales/availability/0x"+strings.Repeat("01", 32)+"/reservations", "",
		http.StatusNotFound, "Availability not found")
}

func TestSpec7_Reservations_500(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(100000)
	r := n.reserve(a, 100, 5)
	corrupt(t, n, reservations.ReservationKey(a.ID, r.ID).String())
	st, body, _ := n.do(http.MethodGet, availPath(a.ID)+"/reservations", nil)
	assert.Equal(t, http.StatusInternalServerError, st)
	assert.NotEmpty(t, body)
	st, _, _ = n.do(http.MethodGet, "/sales/reservations", nil)
	assert.Equal(t, http.StatusInternalServerError, st)
}

func TestSpec7_Space_200(t *testing.T) {
	n := newNode(t, nodeOptions{})
	sp, err := n.Client.Space(n.ctx)
	require.NoError(t, err)
	assert.Equal(t, api.Space{QuotaMaxBytes: defaultQuota}, sp)
	n.createAvailability(100000)
	n.fillSlot(1024, 1)
	sp, err = n.Client.Space(n.ctx)
	require.NoError(t, err)
	assert.Equal(t, api.Space{TotalBlocks: 1, QuotaMaxBytes: defaultQuota, QuotaUsedBytes: 1024,
		QuotaReservedBytes: 100000 - 1024}, sp)
}

// ---- our additions ----

func TestGetAvailability_200_404_400(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(10000)
	got, err := n.Client.Availability(n.ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, a, got)
	n.expect(http.MethodGet, "/sales/availability/0x"+strings.Repeat("ff", 32), "", http.StatusNotFound,
		"Availability not found")
	n.expect(http.MethodGet, "/sales/availability/0x"+strings.Repeat("ff", 33), "", http.StatusBadRequest, "")
}

func TestDeleteAvailability(t *testing.T) {
	n := newNode(t, nodeOptions{})
	a := n.createAvailability(10000)
	b := n.createAvailability(20000)
	r := n.reserve(b, 500, 0)

	t.Run("204", func(t *testing.T) {
		st, body, _ := n.do(http.MethodDelete, availPath(a.ID), nil)
		require.Equal(t, http.StatusNoContent, st)
		assert.Empty(t, body)
		assert.False(t, n.Reservations.AvailabilityExists(a.ID))
		assert.Equal(t, uint64(20000), n.Repo.Quota().Reserved, "its quota is released")
	})
	t.Run("404", func(t *testing.T) {
		n.expect(http.MethodDelete, availPath(a.ID), "", http.StatusNotFound, "Availability not found")
	})
	t.Run("409 while it has reservations", func(t *testing.T) {
		before := n.snapshot()
		n.expect(http.MethodDelete, availPath(b.ID), "", http.StatusConflict,
			"Availability has reservations; it can be deleted once they have ended")
		assert.Equal(t, before, n.snapshot())
	})
	t.Run("400", func(t *testing.T) {
		n.expect(http.MethodDelete, "/sales/availability/0xabc", "", http.StatusBadRequest, "")
	})
	t.Run("500", func(t *testing.T) {
		restore := n.failCalls("delete")
		_, err := n.Reservations.EndReservation(n.ctx, b.ID, r.ID, &r.Collateral)
		require.Error(t, err)
		restore()
		_, err = n.Reservations.EndReservation(n.ctx, b.ID, r.ID, &r.Collateral)
		require.NoError(t, err)
		restore = n.failCalls("delete")
		st, body, _ := n.do(http.MethodDelete, availPath(b.ID), nil)
		restore()
		assert.Equal(t, http.StatusInternalServerError, st)
		assert.Contains(t, body, "injected delete failure")
		n.expect(http.MethodDelete, availPath(b.ID), "", http.StatusNoContent, "")
	})
}

func TestAllReservations_200(t *testing.T) {
	n := newNode(t, nodeOptions{})
	st, body, _ := n.do(http.MethodGet, "/sales/reservations", nil)
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, "[]", body)
	a := n.createAvailability(100000)
	b := n.createAvailability(100000)
	r1 := n.reserve(a, 100, 5)
	r2 := n.reserve(b, 200, 6)
	all, err := n.Client.AllReservations(n.ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []reservations.Reservation{r1, r2}, all)
}

func TestQueue_200(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	n := newNode(t, nodeOptions{maxWorkers: 1, gate: gate})
	q, err := n.Client.Queue(n.ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, q.Length)
	assert.Equal(t, 128, q.Capacity)
	assert.Equal(t, []api.QueueItem{}, q.Items)

	n.createAvailability(100000)
	first := n.request(1, 1024, 1)
	n.waitState(0, first.ID(), string(sales.StateDownloading)) // holds the only worker
	second := n.request(3, 2048, 2)
	q, err = n.Client.Queue(n.ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, q.Length)
	assert.Equal(t, 128, q.Capacity)
	assert.Equal(t, 1, q.WorkersBusy)
	assert.False(t, q.Paused)
	require.Len(t, q.Items, 3)
	for _, it := range q.Items {
		assert.Equal(t, second.ID(), it.RequestID)
		assert.Equal(t, uint64(2048), it.SlotSize)
		assert.Equal(t, uint64(3600), it.Duration)
		assert.Equal(t, uint64(1), it.PricePerBytePerSecond.Uint64())
		assert.Equal(t, uint64(2048), it.Collateral.Uint64())
		assert.False(t, it.Seen)
		assert.NotZero(t, it.Expiry)
	}
	st, body, _ := n.do(http.MethodGet, "/sales/queue?limit=1", nil)
	require.Equal(t, http.StatusOK, st)
	var limited api.QueueStatus
	require.NoError(t, json.Unmarshal([]byte(body), &limited))
	assert.Equal(t, 3, limited.Length)
	assert.Equal(t, q.Items[:1], limited.Items)
}

func TestSlotLog(t *testing.T) {
	n := newNode(t, nodeOptions{})
	n.createAvailability(100000)
	req := n.fillSlot(1024, 1)
	t.Run("200", func(t *testing.T) {
		log, err := n.Client.SlotLog(n.ctx, req.SlotID(0))
		require.NoError(t, err)
		require.NotEmpty(t, log)
		assert.Equal(t, string(sales.StatePreparing), string(log[0].To))
		// The fill is logged; Filled moves on to Proving at once, and that
		// entry may land a moment after the fill is seen.
		last := string(log[len(log)-1].To)
		assert.Contains(t, []string{string(sales.StateFilled), string(sales.StateProving)}, last)
		assert.True(t, slices.ContainsFunc(log, func(e api.LogEntry) bool { return e.To == sales.StateFilled }))
		for _, e := range log {
			assert.Equal(t, req.ID(), e.RequestID)
		}
	})
	t.Run("404", func(t *testing.T) {
		n.expect(http.MethodGet, "/sales/slots/0x"+strings.Repeat("34", 32)+"/log", "", http.StatusNotFound,
			"No event log for slot")
	})
	t.Run("400", func(t *testing.T) {
		n.expect(http.MethodGet, "/sales/slots/0x34/log", "", http.StatusBadRequest, "")
	})
	t.Run("500", func(t *testing.T) {
		// A record of the log that does not decode (the key layout is
		// sales' own: /meta/sales/log/<slot id hex>/...).
		other := n.fillSlot(1024, 2)
		prefix := "/meta/sales/log/" + other.SlotID(0).Hex()
		var keys []string
		for e, err := range n.Repo.Query(n.ctx, dsq.Query{Prefix: prefix, KeysOnly: true}) {
			require.NoError(t, err)
			keys = append(keys, e.Key)
		}
		require.NotEmpty(t, keys, "no log records under %s", prefix)
		corrupt(t, n, keys[0])
		st, body, _ := n.do(http.MethodGet, "/sales/slots/"+other.SlotID(0).String()+"/log", nil)
		assert.Equal(t, http.StatusInternalServerError, st)
		assert.Contains(t, body, "event log record")
	})
	t.Run("after the sale ended", func(t *testing.T) {
		require.NoError(t, n.Market.FailRequest(n.ctx, req.ID()))
		n.waitState(0, req.ID(), string(sales.StateErrored))
		require.NoError(t, n.Sales.Stop(n.ctx)) // waits for the sale's cleanup
		n.expect(http.MethodGet, "/sales/slots/"+req.SlotID(0).String(), "", http.StatusNotFound,
			"Provider not filling slot")
		log, err := n.Client.SlotLog(n.ctx, req.SlotID(0))
		require.NoError(t, err)
		last := log[len(log)-1]
		assert.Equal(t, string(sales.StateErrored), string(last.To))
	})
}

func TestMetrics_200(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write([]byte("hostsales_test_metric 1\n"))
	})
	n := newNode(t, nodeOptions{metrics: metrics})
	st, body, _ := doURL(t, n.hc, http.MethodGet, n.Server.URL+"/metrics", nil)
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, "hostsales_test_metric 1\n", body)

	without := newNode(t, nodeOptions{})
	st, _, _ = doURL(t, without.hc, http.MethodGet, without.Server.URL+"/metrics", nil)
	assert.Equal(t, http.StatusNotFound, st)
}

func TestUnknownPath_404_And_MethodNotAllowed_405(t *testing.T) {
	n := newNode(t, nodeOptions{})
	n.expect(http.MethodGet, "/sales/nothing", "", http.StatusNotFound, "Not found")
	n.expect(http.MethodGet, "/sales/availability/", "", http.StatusNotFound, "Not found")
	st, body, _ := doURL(t, n.hc, http.MethodGet, n.Server.URL+"/elsewhere", nil)
	assert.Equal(t, http.StatusNotFound, st)
	assert.Equal(t, "Not found", body)

	for _, c := range []struct{ method, path, allow string }{
		{http.MethodPut, "/sales/availability", "GET, POST"},
		{http.MethodDelete, "/sales/slots", "GET"},
		{http.MethodPost, "/sales/availability/0x" + strings.Repeat("00", 32), "DELETE, GET, OPTIONS, PATCH"},
		{http.MethodHead, "/space", "GET"},
	} {
		st, body, hdr := n.do(c.method, c.path, nil)
		assert.Equal(t, http.StatusMethodNotAllowed, st, c.method+" "+c.path)
		assert.Equal(t, c.allow, hdr.Get("Allow"), c.method+" "+c.path)
		if c.method != http.MethodHead {
			assert.Equal(t, "Method not allowed", body)
		}
	}
}

func TestBodyTooLarge_413(t *testing.T) {
	n := newNode(t, nodeOptions{maxBody: 1024})
	a := n.createAvailability(10000)
	big := `{"totalSize":"` + strings.Repeat("1", 2000) + `"}`
	n.expect(http.MethodPost, "/sales/availability", big, http.StatusRequestEntityTooLarge,
		"Request body is larger than 1024 bytes")
	n.expect(http.MethodPatch, availPath(a.ID), big, http.StatusRequestEntityTooLarge,
		"Request body is larger than 1024 bytes")
}

// corrupt overwrites the record at key with bytes that do not decode.
func corrupt(t testing.TB, n *node, key string) {
	t.Helper()
	require.NoError(t, n.Repo.Do(n.ctx, func(tx *repostore.Txn) error { return tx.Put(ds.NewKey(key), []byte("{not json")) }))
}

func TestNewHandler_InvalidConfig(t *testing.T) {
	n := newNode(t, nodeOptions{})
	_, err := api.NewHandler(api.Config{Sales: n.Sales})
	assert.ErrorIs(t, err, api.ErrInvalidConfig)
	_, err = api.NewHandler(api.Config{MaxBodyBytes: -1})
	assert.ErrorIs(t, err, api.ErrInvalidConfig)
	h, err := api.NewHandler(api.Config{})
	require.NoError(t, err)
	require.NotNil(t, h)
}
