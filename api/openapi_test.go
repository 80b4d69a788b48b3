package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/api"
)

// The OpenAPI document, loaded and validated once, and the router over it.
var spec struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

func loadSpec() (*openapi3.T, routers.Router, error) {
	spec.once.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(api.OpenAPIDocument())
		if err != nil {
			spec.err = fmt.Errorf("loading openapi.yaml: %w", err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			spec.err = fmt.Errorf("openapi.yaml is not valid: %w", err)
			return
		}
		r, err := gorillamux.NewRouter(doc)
		if err != nil {
			spec.err = fmt.Errorf("routing openapi.yaml: %w", err)
			return
		}
		spec.doc, spec.router = doc, r
	})
	return spec.doc, spec.router, spec.err
}

// coverage records which documented operations and statuses the suite
// received answers for.
var coverage = struct {
	sync.Mutex
	ops      map[string]bool // "GET /sales/slots"
	statuses map[string]bool // "GET /sales/slots 200"
}{ops: map[string]bool{}, statuses: map[string]bool{}}

func covered(method, path string, status int) {
	coverage.Lock()
	defer coverage.Unlock()
	coverage.ops[method+" "+path] = true
	coverage.statuses[fmt.Sprintf("%s %s %d", method, path, status)] = true
}

// validatingTransport validates every response against the OpenAPI
// document (status documented, headers, content type, body schema) and
// records its coverage. A response that does not validate is returned as
// an error of the round trip, so the test that made the request fails.
type validatingTransport struct {
	base  http.RoundTripper
	token string
}

func newValidatingClient(t testing.TB, token string) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: &validatingTransport{base: tr, token: token}}
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if v.token != "" && req.Header.Get("Authorization") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+v.token)
	}
	resp, err := v.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := validateResponse(req, resp, body); err != nil {
		return nil, fmt.Errorf("%s %s answered %d %q: %w", req.Method, req.URL.Path, resp.StatusCode, short(body), err)
	}
	return resp, nil
}

func short(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

func validateResponse(req *http.Request, resp *http.Response, body []byte) error {
	_, router, err := loadSpec()
	if err != nil {
		return err
	}
	// Rules of every answer, documented in the description.
	if resp.StatusCode >= 400 && req.Method != http.MethodHead {
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			return fmt.Errorf("error answer with Content-Type %q", ct)
		}
		if len(body) == 0 {
			return errors.New("error answer without a message")
		}
	}
	if resp.StatusCode == http.StatusNoContent && len(body) != 0 {
		return errors.New("204 with a body")
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		// Undocumented paths and methods: only the generic answers.
		switch {
		case errors.Is(err, routers.ErrPathNotFound) && resp.StatusCode == http.StatusNotFound,
			errors.Is(err, routers.ErrPathNotFound) && resp.StatusCode == http.StatusUnauthorized:
			return nil
		case errors.Is(err, routers.ErrMethodNotAllowed) && resp.StatusCode == http.StatusMethodNotAllowed:
			if resp.Header.Get("Allow") == "" {
				return errors.New("405 without Allow")
			}
			covered(req.Method, "(undocumented method)", resp.StatusCode)
			return nil
		case errors.Is(err, routers.ErrMethodNotAllowed) && resp.StatusCode == http.StatusUnauthorized:
			return nil
		}
		return fmt.Errorf("no documented route: %w", err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		return err
	}
	covered(req.Method, route.Path, resp.StatusCode)
	return nil
}

// documented lists every operation of the document ("GET /sales/slots")
// and every documented response ("GET /sales/slots 200").
func documented() (ops, statuses []string, err error) {
	doc, _, err := loadSpec()
	if err != nil {
		return nil, nil, err
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, method+" "+path)
			for code := range op.Responses.Map() {
				statuses = append(statuses, method+" "+path+" "+code)
			}
		}
	}
	sort.Strings(ops)
	sort.Strings(statuses)
	return ops, statuses, nil
}

// checkCoverage reports the documented operations no test exercised (an
// error) and the documented responses no test received (logged).
func checkCoverage() (missingOps, missingStatuses []string, err error) {
	ops, statuses, err := documented()
	if err != nil {
		return nil, nil, err
	}
	coverage.Lock()
	defer coverage.Unlock()
	for _, op := range ops {
		if !coverage.ops[op] {
			missingOps = append(missingOps, op)
		}
	}
	for _, st := range statuses {
		if !coverage.statuses[st] {
			missingStatuses = append(missingStatuses, st)
		}
	}
	return missingOps, missingStatuses, nil
}

func TestOpenAPIDocument(t *testing.T) {
	doc, _, err := loadSpec()
	require.NoError(t, err)
	assert.Equal(t, "3.0.3", doc.OpenAPI)
	require.NotNil(t, doc.Components.SecuritySchemes["bearerAuth"])
	assert.Equal(t, "bearer", doc.Components.SecuritySchemes["bearerAuth"].Value.Scheme)
	ops, statuses, err := documented()
	require.NoError(t, err)
	want := []string{
		"DELETE /sales/availability/{id}",
		"GET /metrics",
		"GET /openapi.yaml",
		"GET /sales/availability",
		"GET /sales/availability/{id}",
		"GET /sales/availability/{id}/reservations",
		"GET /sales/queue",
		"GET /sales/reservations",
		"GET /sales/slots",
		"GET /sales/slots/{slotId}",
		"GET /sales/slots/{slotId}/log",
		"GET /space",
		"OPTIONS /sales/availability/{id}",
		"PATCH /sales/availability/{id}",
		"POST /sales/availability",
	}
	assert.Equal(t, want, ops)
	// Every operation documents 401, since any request may need the token.
	for _, op := range ops {
		assert.True(t, slices.Contains(statuses, op+" 401"), "%s does not document 401", op)
	}
}

func TestServesOpenAPIDocument(t *testing.T) {
	n := newNode(t, nodeOptions{noSales: true})
	st, body, hdr := n.do(http.MethodGet, "/openapi.yaml", nil)
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, "application/yaml", hdr.Get("Content-Type"))
	assert.Equal(t, string(api.OpenAPIDocument()), body)
	assert.True(t, strings.HasPrefix(body, "openapi: 3"))
}
