package api

import (
	"crypto/sha256"
	"crypto/subtle"
	_ "embed" // the OpenAPI document
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/sales"
)

//go:embed openapi.yaml
var openAPIDoc []byte

// OpenAPIDocument returns the OpenAPI 3 document of the REST API (YAML), as
// served at BasePath+"/openapi.yaml". The slice is the caller's.
func OpenAPIDocument() []byte { return slices.Clone(openAPIDoc) }

// DefaultMaxBodyBytes is the default bound on a request body.
const DefaultMaxBodyBytes = 64 << 10

// ErrInvalidConfig is returned by NewHandler for a Config it cannot use.
var ErrInvalidConfig = errors.New("api: invalid config")

// Messages of SPEC §7 (the reference's spelling, "then" included) and
// ours.
const (
	msgNoSales          = "Persistence is not enabled"
	msgUnauthorized     = "unauthorized"
	msgTotalSizeZero    = "Total size must be larger then zero"
	msgDurationZero     = "duration must be larger then zero"
	msgPriceZero        = "minPricePerBytePerSecond must be larger then zero"
	msgCollateralZero   = "totalCollateral must be larger then zero"
	msgNoQuota          = "Not enough storage quota"
	msgAvailNotFound    = "Availability not found"
	msgNotFilling       = "Provider not filling slot"
	msgFreeSizeUpdate   = "Updating freeSize is not allowed"
	msgHasReservations  = "Availability has reservations; it can be deleted once they have ended"
	msgNoLog            = "No event log for slot"
	msgNotFound         = "Not found"
	msgMethodNotAllowed = "Method not allowed"
	msgTotalBelowUsed   = "New totalSize must be larger then current totalSize - freeSize, which is currently: %d"
)

// Config is what NewHandler serves. Its pointers stay owned by the caller,
// who must keep them open while the handler serves and stop the HTTP
// server before closing them.
type Config struct {
	// Sales is the node's sales role. nil: every /sales endpoint answers
	// 503 "Persistence is not enabled" (SPEC §7).
	Sales *sales.Sales
	// Reservations holds the availabilities; required with Sales.
	Reservations *reservations.Reservations
	// Repo serves /space; nil falls back to Reservations.Repo(), and with
	// neither /space answers 503.
	Repo *repostore.Store
	// Token, when not empty, is required on every request (including
	// /metrics and the OpenAPI document) as "Authorization: Bearer
	// <token>"; a missing or wrong one is answered 401 "unauthorized".
	Token string
	// Metrics, optional, is served at /metrics (outside BasePath).
	Metrics http.Handler
	// Logger receives request failures: 500s at Error, refused requests
	// at Debug. Default: discarded.
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body (413 beyond). Default
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// AllowedOrigin, when set, is sent as Access-Control-Allow-Origin, and
	// OPTIONS /sales/availability/{id} allows PATCH from it (SPEC §7).
	AllowedOrigin string
}

// server is the handler NewHandler returns. It is immutable after
// construction, so it is safe for concurrent use.
type server struct {
	cfg       Config
	repo      *repostore.Store
	tokenHash [sha256.Size]byte
	log       *slog.Logger
	routes    []route
}

// handlerFunc serves a matched route; params are its path parameters.
type handlerFunc func(w http.ResponseWriter, r *http.Request, params []string)

// route is one path pattern under BasePath (or at the root) and its
// methods. A "{}" segment matches any one segment.
type route struct {
	segs    []string
	root    bool // outside BasePath
	sales   bool // needs Config.Sales (503 otherwise)
	methods map[string]handlerFunc
}

// NewHandler returns the REST API of SPEC §7 and our additions, under
// BasePath, with /metrics at the root. It fails with ErrInvalidConfig when
// Sales is set without Reservations or MaxBodyBytes is negative. The
// handler is safe for concurrent use; every call into Sales and
// Reservations takes the request's context.
//
// Every error answer has a text/plain body holding only the message.
func NewHandler(cfg Config) (http.Handler, error) {
	if cfg.Sales != nil && cfg.Reservations == nil {
		return nil, fmt.Errorf("%w: Sales needs Reservations", ErrInvalidConfig)
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("%w: MaxBodyBytes %d is negative", ErrInvalidConfig, cfg.MaxBodyBytes)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	s := &server{cfg: cfg, repo: cfg.Repo, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.repo == nil && cfg.Reservations != nil {
		s.repo = cfg.Reservations.Repo()
	}
	s.tokenHash = sha256.Sum256([]byte(cfg.Token))
	get := http.MethodGet
	s.routes = []route{
		{segs: seg("sales/availability"), sales: true, methods: map[string]handlerFunc{
			get: s.listAvailabilities, http.MethodPost: s.createAvailability}},
		{segs: seg("sales/availability/{}"), sales: true, methods: map[string]handlerFunc{
			get: s.getAvailability, http.MethodPatch: s.updateAvailability,
			http.MethodDelete: s.deleteAvailability, http.MethodOptions: s.optionsAvailability}},
		{segs: seg("sales/availability/{}/reservations"), sales: true, methods: map[string]handlerFunc{
			get: s.availabilityReservations}},
		{segs: seg("sales/reservations"), sales: true, methods: map[string]handlerFunc{get: s.allReservations}},
		{segs: seg("sales/slots"), sales: true, methods: map[string]handlerFunc{get: s.slots}},
		{segs: seg("sales/slots/{}"), sales: true, methods: map[string]handlerFunc{get: s.slot}},
		{segs: seg("sales/slots/{}/log"), sales: true, methods: map[string]handlerFunc{get: s.slotLog}},
		{segs: seg("sales/queue"), sales: true, methods: map[string]handlerFunc{get: s.queue}},
		{segs: seg("space"), methods: map[string]handlerFunc{get: s.space}},
		{segs: seg("openapi.yaml"), methods: map[string]handlerFunc{get: s.openAPI}},
	}
	if cfg.Metrics != nil {
		s.routes = append(s.routes, route{segs: seg("metrics"), root: true, methods: map[string]handlerFunc{
			get: func(w http.ResponseWriter, r *http.Request, _ []string) { cfg.Metrics.ServeHTTP(w, r) }}})
	}
	return s, nil
}

func seg(p string) []string { return strings.Split(p, "/") }

// ServeHTTP authenticates, routes and serves one request.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler { //nolint:errorlint // a sentinel value, never wrapped
				panic(v)
			}
			s.log.Error("api: handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v)
			s.fail(w, r, http.StatusInternalServerError, "internal error")
		}
	}()
	if s.cfg.AllowedOrigin != "" {
		w.Header().Set("Access-Control-Allow-Origin", s.cfg.AllowedOrigin)
	}
	if s.cfg.Token != "" && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		s.fail(w, r, http.StatusUnauthorized, msgUnauthorized)
		return
	}
	rt, params := s.match(r.URL.Path)
	if rt == nil {
		s.fail(w, r, http.StatusNotFound, msgNotFound)
		return
	}
	h, ok := rt.methods[r.Method]
	if !ok {
		allow := make([]string, 0, len(rt.methods))
		for m := range rt.methods {
			allow = append(allow, m)
		}
		slices.Sort(allow)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.fail(w, r, http.StatusMethodNotAllowed, msgMethodNotAllowed)
		return
	}
	if rt.sales && s.cfg.Sales == nil && r.Method != http.MethodOptions {
		s.fail(w, r, http.StatusServiceUnavailable, msgNoSales)
		return
	}
	h(w, r, params)
}

// authorized compares the bearer token in constant time (of the hashes,
// so the token's length does not leak either).
func (s *server) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		tok = ""
	}
	h := sha256.Sum256([]byte(tok))
	return ok && subtle.ConstantTimeCompare(h[:], s.tokenHash[:]) == 1
}

// match finds the route of path and its parameters.
func (s *server) match(path string) (*route, []string) {
	var rest string
	var root bool
	if p, ok := strings.CutPrefix(path, BasePath+"/"); ok {
		rest = p
	} else if p, ok := strings.CutPrefix(path, "/"); ok {
		rest, root = p, true
	} else {
		return nil, nil
	}
	segs := strings.Split(rest, "/")
next:
	for i := range s.routes {
		rt := &s.routes[i]
		if rt.root != root || len(rt.segs) != len(segs) {
			continue
		}
		var params []string
		for j, sg := range rt.segs {
			switch {
			case sg == "{}" && segs[j] != "":
				params = append(params, segs[j])
			case sg != segs[j]:
				continue next
			}
		}
		return rt, params
	}
	return nil, nil
}

// fail answers status with msg as a plain-text body.
func (s *server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if status >= 500 {
		s.log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", msg)
	} else {
		s.log.Debug("api: request refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", msg)
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

// failErr answers a *badRequest with its status, and anything else as 500
// with its message.
func (s *server) failErr(w http.ResponseWriter, r *http.Request, err error) {
	var br *badRequest
	if errors.As(err, &br) {
		s.fail(w, r, br.status, br.msg)
		return
	}
	s.fail(w, r, http.StatusInternalServerError, err.Error())
}

// reply answers status with v as JSON.
func (s *server) reply(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "encoding the answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// availabilityID parses the {id} of an availability path (400 when bad).
func availabilityID(s string) (reservations.AvailabilityID, error) {
	id, err := reservations.ParseID(s)
	if err != nil {
		return id, bad("Invalid availability id %q: expected 0x and 64 hex digits", short(s))
	}
	return id, nil
}

// slotID parses the {slotId} of a slot path (400 when bad).
func slotID(s string) (market.SlotID, error) {
	id, err := market.ParseSlotID(s)
	if err != nil {
		return id, bad("Invalid slot id %q: expected 0x and 64 hex digits", short(s))
	}
	return id, nil
}

func (s *server) listAvailabilities(w http.ResponseWriter, r *http.Request, _ []string) {
	st, err := s.cfg.Reservations.Snapshot(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, nonNil(st.Availabilities))
}

func (s *server) getAvailability(w http.ResponseWriter, r *http.Request, p []string) {
	id, err := availabilityID(p[0])
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	a, err := s.cfg.Reservations.Availability(id)
	if errors.Is(err, reservations.ErrNotExists) {
		s.fail(w, r, http.StatusNotFound, msgAvailNotFound)
		return
	} else if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, a)
}

// createAvailability is POST /sales/availability, checking in the order
// of SPEC §7.
func (s *server) createAvailability(w http.ResponseWriter, r *http.Request, _ []string) {
	b, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	req, err := decodeCreate(b)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	switch {
	case *req.TotalSize == 0:
		s.fail(w, r, http.StatusUnprocessableEntity, msgTotalSizeZero)
		return
	case *req.Duration == 0:
		s.fail(w, r, http.StatusUnprocessableEntity, msgDurationZero)
		return
	case req.MinPricePerBytePerSecond.IsZero():
		s.fail(w, r, http.StatusUnprocessableEntity, msgPriceZero)
		return
	case req.TotalCollateral.IsZero():
		s.fail(w, r, http.StatusUnprocessableEntity, msgCollateralZero)
		return
	case !s.cfg.Reservations.HasAvailable(uint64(*req.TotalSize)):
		s.fail(w, r, http.StatusUnprocessableEntity, msgNoQuota)
		return
	}
	a := reservations.Availability{
		TotalSize:                uint64(*req.TotalSize),
		Duration:                 uint64(*req.Duration),
		MinPricePerBytePerSecond: req.MinPricePerBytePerSecond.Int,
		TotalCollateral:          req.TotalCollateral.Int,
		Enabled:                  req.Enabled == nil || *req.Enabled,
	}
	if req.Until != nil {
		a.Until = int64(*req.Until)
	}
	created, err := s.cfg.Reservations.CreateAvailability(r.Context(), a)
	if err != nil {
		s.storeErr(w, r, err)
		return
	}
	s.reply(w, r, http.StatusCreated, created)
}

// storeErr maps an error of Reservations to an answer: the refusals a
// client can cause are 4xx with the reference's messages, the rest 500.
func (s *server) storeErr(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, reservations.ErrNotExists):
		s.fail(w, r, http.StatusNotFound, msgAvailNotFound)
	case errors.Is(err, reservations.ErrHasReservations):
		s.fail(w, r, http.StatusConflict, msgHasReservations)
	case errors.Is(err, reservations.ErrUntilOutOfBounds), errors.Is(err, reservations.ErrBytesOutOfBounds),
		errors.Is(err, reservations.ErrCollateralOutOfBounds):
		s.fail(w, r, http.StatusUnprocessableEntity, err.Error())
	case errors.Is(err, reservations.ErrReserveFailed) && errors.Is(err, repostore.ErrQuotaExceeded):
		s.fail(w, r, http.StatusUnprocessableEntity, msgNoQuota)
	default:
		s.failErr(w, r, err)
	}
}

// updateAvailability is PATCH /sales/availability/{id}, checking in the
// order of SPEC §7. Reservations.Update re-checks every bound inside its
// commit; the checks here give the reference's order and messages.
func (s *server) updateAvailability(w http.ResponseWriter, r *http.Request, p []string) {
	id, err := availabilityID(p[0])
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	b, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	req, err := decodeUpdate(b)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	cur, err := s.cfg.Reservations.Availability(id)
	if err != nil {
		s.storeErr(w, r, err)
		return
	}
	if req.FreeSize != nil {
		s.fail(w, r, http.StatusUnprocessableEntity, msgFreeSizeUpdate)
		return
	}
	var patch reservations.Patch
	if req.TotalSize != nil {
		total := uint64(*req.TotalSize)
		committed := cur.TotalSize - cur.FreeSize
		switch {
		case total == 0:
			s.fail(w, r, http.StatusUnprocessableEntity, msgTotalSizeZero)
			return
		case total < committed:
			s.fail(w, r, http.StatusUnprocessableEntity, fmt.Sprintf(msgTotalBelowUsed, committed))
			return
		case total > cur.TotalSize && !s.cfg.Reservations.HasAvailable(total-cur.TotalSize):
			// Ours: the growth must fit, not the whole new total (SPEC
			// §7 QUIRK), as Reservations.Update reserves only the growth.
			s.fail(w, r, http.StatusUnprocessableEntity, msgNoQuota)
			return
		}
		patch.TotalSize = &total
	}
	if req.Duration != nil {
		v := uint64(*req.Duration)
		patch.Duration = &v
	}
	if req.MinPricePerBytePerSecond != nil {
		patch.MinPricePerBytePerSecond = new(uint256.Int).Set(&req.MinPricePerBytePerSecond.Int)
	}
	if req.TotalCollateral != nil {
		patch.TotalCollateral = new(uint256.Int).Set(&req.TotalCollateral.Int)
	}
	patch.Enabled = req.Enabled
	if req.Until != nil {
		v := int64(*req.Until)
		patch.Until = &v
	}
	if _, err := s.cfg.Reservations.Update(r.Context(), id, patch); err != nil {
		s.storeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// deleteAvailability is DELETE /sales/availability/{id} (ours).
func (s *server) deleteAvailability(w http.ResponseWriter, r *http.Request, p []string) {
	id, err := availabilityID(p[0])
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if err := s.cfg.Reservations.DeleteAvailability(r.Context(), id); err != nil {
		s.storeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// optionsAvailability is the CORS preflight of PATCH (SPEC §7): 204, with
// the CORS headers when an origin is allowed. It needs no sales role.
func (s *server) optionsAvailability(w http.ResponseWriter, _ *http.Request, _ []string) {
	if s.cfg.AllowedOrigin != "" {
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", "PATCH, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "content-type, authorization")
		h.Set("Access-Control-Max-Age", "86400")
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) availabilityReservations(w http.ResponseWriter, r *http.Request, p []string) {
	id, err := availabilityID(p[0])
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	rs, err := s.cfg.Reservations.ReservationsOf(r.Context(), id)
	if err != nil {
		s.storeErr(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, nonNil(rs))
}

func (s *server) allReservations(w http.ResponseWriter, r *http.Request, _ []string) {
	st, err := s.cfg.Reservations.Snapshot(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, nonNil(st.Reservations))
}

func (s *server) slots(w http.ResponseWriter, r *http.Request, _ []string) {
	mine, err := s.cfg.Sales.MySlots(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	out := make([]Slot, 0, len(mine))
	for _, sl := range mine {
		out = append(out, Slot{ID: sl.ID(), Request: sl.Request, SlotIndex: sl.SlotIndex})
	}
	s.reply(w, r, http.StatusOK, out)
}

func (s *server) slot(w http.ResponseWriter, r *http.Request, p []string) {
	id, err := slotID(p[0])
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	a, ok := s.cfg.Sales.ActiveSale(id)
	if !ok {
		s.fail(w, r, http.StatusNotFound, msgNotFilling)
		return
	}
	d := SlotDetail{State: string(a.State()), RequestID: a.RequestID(), SlotIndex: a.SlotIndex()}
	if d.State == "" {
		d.State = "none"
	}
	if req, ok := a.Request(); ok {
		d.Request = &req
	}
	if res, ok := a.Reservation(); ok {
		d.Reservation = &res
	}
	s.reply(w, r, http.StatusOK, d)
}

func (s *server) slotLog(w http.ResponseWriter, r *http.Request, p []string) {
	id, err := slotID(p[0])
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	log, err := s.cfg.Sales.SaleLog(r.Context(), id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if len(log) == 0 {
		s.fail(w, r, http.StatusNotFound, msgNoLog)
		return
	}
	s.reply(w, r, http.StatusOK, log)
}

func (s *server) queue(w http.ResponseWriter, r *http.Request, _ []string) {
	limit, err := parseLimit(r)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	q := s.cfg.Sales.Queue()
	st := q.Stats()
	items := q.Items()
	if limit >= 0 && len(items) > limit {
		items = items[:limit]
	}
	out := QueueStatus{Length: st.Len, Capacity: st.Cap, Paused: st.Paused, WorkersBusy: st.WorkersBusy,
		Items: make([]QueueItem, 0, len(items))}
	for _, it := range items {
		out.Items = append(out.Items, QueueItem{
			RequestID: market.RequestID(it.RequestID), SlotIndex: uint64(it.SlotIndex),
			SlotSize: it.SlotSize, Duration: it.Duration,
			PricePerBytePerSecond: reservations.U256{Int: it.PricePerBytePerSecond},
			Collateral:            reservations.U256{Int: it.Collateral},
			Expiry:                it.Expiry, Seen: it.Seen,
		})
	}
	s.reply(w, r, http.StatusOK, out)
}

func (s *server) space(w http.ResponseWriter, r *http.Request, _ []string) {
	if s.repo == nil {
		s.fail(w, r, http.StatusServiceUnavailable, msgNoSales)
		return
	}
	q := s.repo.Quota()
	s.reply(w, r, http.StatusOK, Space{TotalBlocks: s.repo.TotalBlocks(), QuotaMaxBytes: q.Max,
		QuotaUsedBytes: q.Used, QuotaReservedBytes: q.Reserved})
}

func (s *server) openAPI(w http.ResponseWriter, _ *http.Request, _ []string) {
	w.Header().Set("Content-Type", "application/yaml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDoc)
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
