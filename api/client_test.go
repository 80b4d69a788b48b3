package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/api"
	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/sales"
)

func TestNewClient(t *testing.T) {
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"https://node.example:443/", true},
		{"http://127.0.0.1:8080/api/codex/v1", true},
		{"http://127.0.0.1:8080/prefix", true},
		{"", false},
		{"127.0.0.1:8080", false},
		{"ftp://127.0.0.1", false},
		{"http://", false},
		{"http://[::1", false},
		{"http://h/?q=1", false},
		{"http://user:pw@h/", false},
		{"http://h/#frag", false},
	} {
		_, err := api.NewClient(c.url, nil)
		assert.Equal(t, c.ok, err == nil, "%q: %v", c.url, err)
	}
}

func TestError(t *testing.T) {
	e := &api.Error{Status: 422, Message: "Not enough storage quota"}
	assert.Equal(t, "Unprocessable Entity (422): Not enough storage quota", e.Error())
}

// Every client method against a node, each success and an *api.Error.
func TestClientRoundTrips(t *testing.T) {
	n := newNode(t, nodeOptions{})
	c := n.Client
	ctx := n.ctx
	unknown := reservations.ID{0x99}

	// CreateAvailability
	a, err := c.CreateAvailability(ctx, api.CreateAvailabilityRequest{TotalSize: u64(100000), Duration: u64(100000),
		MinPricePerBytePerSecond: u256(1), TotalCollateral: u256(1 << 30), FreeSize: u64(5)})
	require.NoError(t, err)
	assert.Equal(t, uint64(100000), a.FreeSize)
	_, err = c.CreateAvailability(ctx, api.CreateAvailabilityRequest{TotalSize: u64(0), Duration: u64(1),
		MinPricePerBytePerSecond: u256(1), TotalCollateral: u256(1)})
	apiError(t, err, http.StatusUnprocessableEntity, "Total size must be larger then zero")
	_, err = c.CreateAvailability(ctx, api.CreateAvailabilityRequest{})
	apiError(t, err, http.StatusBadRequest, "Missing required field: totalSize")

	// Availabilities, Availability
	list, err := c.Availabilities(ctx)
	require.NoError(t, err)
	assert.Equal(t, []reservations.Availability{a}, list)
	got, err := c.Availability(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, a, got)
	_, err = c.Availability(ctx, unknown)
	apiError(t, err, http.StatusNotFound, "Availability not found")

	// UpdateAvailability
	require.NoError(t, c.UpdateAvailability(ctx, a.ID, api.UpdateAvailabilityRequest{Duration: u64(200000)}))
	got, err = c.Availability(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, uint64(200000), got.Duration)
	err = c.UpdateAvailability(ctx, a.ID, api.UpdateAvailabilityRequest{FreeSize: u64(1)})
	apiError(t, err, http.StatusUnprocessableEntity, "Updating freeSize is not allowed")
	err = c.UpdateAvailability(ctx, unknown, api.UpdateAvailabilityRequest{})
	apiError(t, err, http.StatusNotFound, "Availability not found")

	// A sale, for reservations, slots and the log.
	req := n.fillSlot(1024, 1)

	// Reservations, AllReservations
	rs, err := c.Reservations(ctx, a.ID)
	require.NoError(t, err)
	require.Len(t, rs, 1)
	assert.Equal(t, req.ID(), rs[0].RequestID)
	assert.True(t, rs[0].Filled)
	_, err = c.Reservations(ctx, unknown)
	apiError(t, err, http.StatusNotFound, "Availability not found")
	all, err := c.AllReservations(ctx)
	require.NoError(t, err)
	assert.Equal(t, rs, all)

	// Slots, Slot, SlotLog
	slots, err := c.Slots(ctx)
	require.NoError(t, err)
	require.Len(t, slots, 1)
	assert.Equal(t, req.SlotID(0), slots[0].ID)
	d, err := c.Slot(ctx, req.SlotID(0))
	require.NoError(t, err)
	assert.Equal(t, string(sales.StateProving), d.State)
	assert.Equal(t, rs[0], *d.Reservation)
	_, err = c.Slot(ctx, market.SlotID{1})
	apiError(t, err, http.StatusNotFound, "Provider not filling slot")
	log, err := c.SlotLog(ctx, req.SlotID(0))
	require.NoError(t, err)
	assert.NotEmpty(t, log)
	_, err = c.SlotLog(ctx, market.SlotID{1})
	apiError(t, err, http.StatusNotFound, "No event log for slot")

	// Queue, Space
	q, err := c.Queue(ctx)
	require.NoError(t, err)
	assert.Equal(t, 128, q.Capacity)
	sp, err := c.Space(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(1024), sp.QuotaUsedBytes)

	// DeleteAvailability
	err = c.DeleteAvailability(ctx, a.ID)
	apiError(t, err, http.StatusConflict, "")
	b, err := c.CreateAvailability(ctx, api.CreateAvailabilityRequest{TotalSize: u64(10), Duration: u64(1),
		MinPricePerBytePerSecond: u256(1), TotalCollateral: u256(1)})
	require.NoError(t, err)
	require.NoError(t, c.DeleteAvailability(ctx, b.ID))
	err = c.DeleteAvailability(ctx, b.ID)
	apiError(t, err, http.StatusNotFound, "Availability not found")
}

func TestClient_SalesNil_503(t *testing.T) {
	n := newNode(t, nodeOptions{noSales: true})
	_, err := n.Client.Availabilities(n.ctx)
	apiError(t, err, http.StatusServiceUnavailable, "Persistence is not enabled")
	assert.Equal(t, "Service Unavailable (503): Persistence is not enabled", err.Error())
	_, err = n.Client.Queue(n.ctx)
	apiError(t, err, http.StatusServiceUnavailable, "Persistence is not enabled")
}

func TestClient_ContextCancelled(t *testing.T) {
	n := newNode(t, nodeOptions{})
	ctx, cancel := context.WithCancel(n.ctx)
	cancel()
	_, err := n.Client.Availabilities(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestClient_BasePathInURL(t *testing.T) {
	n := newNode(t, nodeOptions{})
	for _, base := range []string{n.Server.URL, n.Server.URL + "/", n.Server.URL + api.BasePath, n.Server.URL + api.BasePath + "/"} {
		c, err := api.NewClient(base, &api.ClientOptions{HTTPClient: n.hc})
		require.NoError(t, err)
		_, err = c.Space(n.ctx)
		assert.NoError(t, err, base)
	}
	assert.False(t, strings.HasSuffix(api.BasePath, "/"))
}
