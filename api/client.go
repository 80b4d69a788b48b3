package api

import (
	"bytes"
	"context"
	"encoding/json"

	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/reservations"
)

// Error is what every non-2xx answer becomes on the client side: the HTTP
// status and the server's plain-text message.
type Error struct {
	Status  int
	Message string
}

// Error returns "<status text> (<status>): <message>".
func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d): %s", http.StatusText(e.Status), e.Status, e.Message)
}

// ClientOptions configure a Client. The zero value (or nil) is valid.
type ClientOptions struct {
	// Token, when set, is sent as "Authorization: Bearer <token>".
	Token string
	// HTTPClient does the requests. Default: http.DefaultClient (no
	// timeout: each call's context bounds it).
	HTTPClient *http.Client
}

// maxErrorBody bounds how much of an error answer the client reads.
const maxErrorBody = 64 << 10

// Client calls a node's REST API. It is safe for concurrent use; it owns
// nothing that needs closing (the HTTPClient stays the caller's).
type Client struct {
	base  string // scheme://host[:port]/api/codex/v1, no trailing slash
	token string
	hc    *http.Client
}

// NewClient returns a Client for the node at baseURL, such as
// "http://127.0.0.1:8080" (BasePath is appended; a path already in baseURL
// is kept before it). It fails on a malformed URL, a scheme other than http
// or https, or a missing host.
func NewClient(baseURL string, opts *ClientOptions) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("api: bad base URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("api: bad base URL %q: scheme must be http or https", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("api: bad base URL %q: no host", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("api: bad base URL %q: no query, fragment or user info allowed", baseURL)
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	path = strings.TrimSuffix(path, BasePath)
	c := &Client{base: u.Scheme + "://" + u.Host + path + BasePath, hc: http.DefaultClient}
	if opts != nil {
		c.token = opts.Token
		if opts.HTTPClient != nil {
			c.hc = opts.HTTPClient
		}
	}
	return c, nil
}

// do sends a request to BasePath+path with body (JSON-encoded unless nil)
// and decodes a 2xx answer's body into out (unless nil). A non-2xx answer
// is returned as *Error.
func (c *Client) do(ctx context.Context, method, path string, body, out any, want int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("api: encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if out != nil {
		req.Header.Set("Accept", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return &Error{Status: resp.StatusCode, Message: strings.TrimSpace(string(b))}
	}
	if want != 0 && resp.StatusCode != want {
		return fmt.Errorf("api: %s %s: unexpected status %d (want %d)", method, path, resp.StatusCode, want)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("api: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Availabilities returns every availability (GET /sales/availability).
func (c *Client) Availabilities(ctx context.Context) ([]reservations.Availability, error) {
	var out []reservations.Availability
	if err := c.do(ctx, http.MethodGet, "/sales/availability", nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out, nil
}

// Availability returns one availability (GET /sales/availability/{id}, our
// addition); an unknown id is an *Error with Status 404.
func (c *Client) Availability(ctx context.Context, id reservations.AvailabilityID) (reservations.Availability, error) {
	var out reservations.Availability
	err := c.do(ctx, http.MethodGet, "/sales/availability/"+id.String(), nil, &out, http.StatusOK)
	return out, err
}

// CreateAvailability creates an availability (POST /sales/availability)
// and returns it as stored.
func (c *Client) CreateAvailability(ctx context.Context, r CreateAvailabilityRequest) (reservations.Availability, error) {
	var out reservations.Availability
	err := c.do(ctx, http.MethodPost, "/sales/availability", r, &out, http.StatusCreated)
	return out, err
}

// UpdateAvailability changes the given fields of an availability (PATCH
// /sales/availability/{id}).
func (c *Client) UpdateAvailability(ctx context.Context, id reservations.AvailabilityID, r UpdateAvailabilityRequest) error {
	return c.do(ctx, http.MethodPatch, "/sales/availability/"+id.String(), r, nil, http.StatusNoContent)
}

// DeleteAvailability deletes an availability (DELETE
// /sales/availability/{id}, our addition); one that still has reservations
// is an *Error with Status 409.
func (c *Client) DeleteAvailability(ctx context.Context, id reservations.AvailabilityID) error {
	return c.do(ctx, http.MethodDelete, "/sales/availability/"+id.String(), nil, nil, http.StatusNoContent)
}

// Reservations returns the reservations of one availability (GET
// /sales/availability/{id}/reservations).
func (c *Client) Reservations(ctx context.Context, availabilityID reservations.AvailabilityID) ([]reservations.Reservation, error) {
	var out []reservations.Reservation
	if err := c.do(ctx, http.MethodGet, "/sales/availability/"+availabilityID.String()+"/reservations", nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out, nil
}

// AllReservations returns every reservation (GET /sales/reservations, our
// addition).
func (c *Client) AllReservations(ctx context.Context) ([]reservations.Reservation, error) {
	var out []reservations.Reservation
	if err := c.do(ctx, http.MethodGet, "/sales/reservations", nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out, nil
}

// Slots returns the slots the market says this host fills (GET
// /sales/slots).
func (c *Client) Slots(ctx context.Context) ([]Slot, error) {
	var out []Slot
	if err := c.do(ctx, http.MethodGet, "/sales/slots", nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out, nil
}

// Slot returns the live sale of a slot (GET /sales/slots/{slotId}); a slot
// with no live sale is an *Error with Status 404.
func (c *Client) Slot(ctx context.Context, id market.SlotID) (SlotDetail, error) {
	var out SlotDetail
	err := c.do(ctx, http.MethodGet, "/sales/slots/"+id.String(), nil, &out, http.StatusOK)
	return out, err
}

// SlotLog returns the event log of a slot's sales, oldest first (GET
// /sales/slots/{slotId}/log, our addition); it also covers ended sales.
func (c *Client) SlotLog(ctx context.Context, id market.SlotID) ([]LogEntry, error) {
	var out []LogEntry
	if err := c.do(ctx, http.MethodGet, "/sales/slots/"+id.String()+"/log", nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out, nil
}

// Queue returns the slot queue's state (GET /sales/queue, our addition).
func (c *Client) Queue(ctx context.Context) (QueueStatus, error) {
	var out QueueStatus
	err := c.do(ctx, http.MethodGet, "/sales/queue", nil, &out, http.StatusOK)
	return out, err
}

// Space returns the repo's block count and quota (GET /space).
func (c *Client) Space(ctx context.Context) (Space, error) {
	var out Space
	err := c.do(ctx, http.MethodGet, "/space", nil, &out, http.StatusOK)
	return out, err
}
