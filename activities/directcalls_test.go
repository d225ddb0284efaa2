package activities_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flowgate/flowgate/activities"
)

func TestDirectCallsOpenGETAndOnlyDeclaredWrites(t *testing.T) {
	p, err := activities.ParseDirectCalls("orders POST orders, users post accounts/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		service, method, endpoint string
		want                      bool
	}{
		{"deploy", "GET", "deployments/orders/production", true},
		{"deploy", "", "health", true},
		{"orders", "POST", "orders", true},
		{"orders", "POST", "/orders/?note=x", true},
		{"users", "POST", "accounts/deprovision", true},
		{"users", "POST", "accounts", false},
		{"orders", "POST", "refunds", false},
		{"orders", "POST", "orders/extra", false},
		{"deploy", "POST", "deployments", false},
		{"products", "POST", "orders", false},
	} {
		if got := p.Allows(c.service, c.method, c.endpoint); got != c.want {
			t.Errorf("Allows(%s %s %s) = %v, want %v", c.service, c.method, c.endpoint, got, c.want)
		}
	}
	if activities.DirectCalls(nil).Allows("orders", "POST", "orders") {
		t.Error("an empty policy opened a POST")
	}
	for _, bad := range []string{"orders POST", "orders GET orders", "orders DELETE orders", "orders POST [", "a b c d"} {
		if _, err := activities.ParseDirectCalls(bad); err == nil {
			t.Errorf("ParseDirectCalls(%q) accepted", bad)
		}
	}
	err = p.Refusal("deploy", "POST", "deployments", "deployment")
	if errType(err) != activities.ErrTypeNotAllowed || !strings.Contains(err.Error(), "POST deploy/deployments is done by the deployment process after its approval: start_workflow workflow_type=deployment") ||
		!strings.Contains(err.Error(), "orders: POST orders") {
		t.Errorf("refusal: %v", err)
	}
}

// TestGatewayFollowsNoRedirect: a 307 would re-send a POST body and its Idempotency-Key to
// another host, and a 302 would let a GET read another service.
func TestGatewayFollowsNoRedirect(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(other.Close)
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusFound, http.StatusPermanentRedirect} {
		g := gateway(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/steal", code)
		})
		for _, method := range []string{"GET", "POST"} {
			_, err := g.CallService(context.Background(), activities.CallInput{Service: "orders", Endpoint: "orders", Method: method, IdempotencyKey: "k"})
			if errType(err) != activities.ErrTypeRemoteRejected || !strings.Contains(err.Error(), "follows no redirect") {
				t.Errorf("%d to %s: %v, want a final refusal naming the redirect", code, method, err)
			}
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target received %d requests; want none", n)
	}
}
