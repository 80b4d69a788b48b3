package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/hostsales/hostsales/api"
	"github.com/hostsales/hostsales/repostore"
	"github.com/hostsales/hostsales/repostore/badgerds"
	"github.com/hostsales/hostsales/reservations"
)

func ExampleNeedsToken() {
	for _, addr := range []string{"127.0.0.1:8080", "localhost:8080", "[::1]:8080", ":8080", "0.0.0.0:8080", "10.1.2.3:8080"} {
		fmt.Println(addr, api.NeedsToken(addr))
	}
	// Output:
	// 127.0.0.1:8080 false
	// localhost:8080 false
	// [::1]:8080 false
	// :8080 true
	// 0.0.0.0:8080 true
	// 10.1.2.3:8080 true
}

// A node without a sales role serves /space; its sales endpoints answer
// 503, which the client returns as an *api.Error.
func ExampleNewClient() {
	ctx := context.Background()
	repo, err := repostore.Open("", &repostore.Options{QuotaMaxBytes: 1 << 20, Badger: &badgerds.Options{InMemory: true}})
	if err != nil {
		panic(err)
	}
	defer func() { _ = repo.Close() }()
	res, err := reservations.New(ctx, repo, nil)
	if err != nil {
		panic(err)
	}
	h, err := api.NewHandler(api.Config{Reservations: res, Repo: repo})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	c, err := api.NewClient(srv.URL, nil)
	if err != nil {
		panic(err)
	}
	space, err := c.Space(ctx)
	fmt.Println(space.QuotaMaxBytes, err)
	_, err = c.Availabilities(ctx)
	fmt.Println(err)
	// Output:
	// 1048576 <nil>
	// Service Unavailable (503): Persistence is not enabled
}
