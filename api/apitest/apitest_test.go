package apitest_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hostsales/hostsales/api"
	"github.com/hostsales/hostsales/api/apitest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Nodes built by parallel tests are each their own: their own quota,
// token and roles, and everything stopped at cleanup (goleak checks).
func TestNewInParallelTests(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		name  string
		opts  []apitest.Option
		quota uint64
		sales bool
		token bool
	}{
		{"default", nil, apitest.DefaultQuota, true, false},
		{"without sales", []apitest.Option{apitest.WithoutSales(), apitest.WithQuota(4096)}, 4096, false, false},
		{"token", []apitest.Option{apitest.WithToken(token), apitest.WithQuota(8192)}, 8192, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			n := apitest.New(t, c.opts...)
			ctx := context.Background()
			space, err := n.Client.Space(ctx)
			require.NoError(t, err)
			assert.Equal(t, c.quota, space.QuotaMaxBytes)
			_, err = n.Client.Availabilities(ctx)
			assert.Equal(t, c.sales, err == nil, "sales role: %v", err)
			assert.Equal(t, c.sales, n.Sales != nil)

			anonymous, err := api.NewClient(n.Server.URL, &api.ClientOptions{HTTPClient: n.Server.Client()})
			require.NoError(t, err)
			_, err = anonymous.Space(ctx)
			if !c.token {
				assert.NoError(t, err)
				return
			}
			var e *api.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, http.StatusUnauthorized, e.Status)
		})
	}
}
