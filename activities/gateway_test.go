package activities_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowgate/flowgate/activities"
)

func gateway(t *testing.T, h http.HandlerFunc) *activities.Gateway {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &activities.Gateway{Client: srv.Client(), Services: map[string]activities.Service{
		"orders": {BaseURL: srv.URL + "/orders", Timeout: 200 * time.Millisecond, AuthHeader: "X-Service-Key", AuthEnv: "FLOWGATE_TEST_ORDERS_KEY"},
	}, ResponseMaxBytes: 1024}
}

func TestCallServiceAnswersAndErrors(t *testing.T) {
	t.Setenv("FLOWGATE_TEST_ORDERS_KEY", "s3cret")
	var seen atomic.Value
	g := gateway(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen.Store(r.Method + " " + r.URL.RequestURI() + " key=" + r.Header.Get("Idempotency-Key") + " auth=" + r.Header.Get("X-Service-Key") + " " + string(body))
		switch r.URL.Path {
		case "/orders/json":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"ok":true}`)
		case "/orders/text":
			io.WriteString(w, "plain")
		case "/orders/bad":
			w.WriteHeader(422)
			io.WriteString(w, `{"error":"quantity must be positive"}`)
		case "/orders/down":
			w.WriteHeader(503)
		case "/orders/slow":
			// A backend slower than the call's timeout: the slowness is what is tested.
			time.Sleep(time.Second)
		case "/orders/huge":
			io.WriteString(w, strings.Repeat("x", 5000))
		}
	})
	ctx := context.Background()
	res, err := g.CallService(ctx, activities.CallInput{Service: "orders", Endpoint: "json?x=1"})
	if err != nil || string(res.JSON) != `{"ok":true}` || res.StatusCode != 200 || seen.Load() != "GET /orders/json?x=1 key= auth=s3cret " {
		t.Errorf("GET json: %+v %v %v", res, err, seen.Load())
	}
	res, err = g.CallService(ctx, activities.CallInput{Service: "orders", Endpoint: "text", Method: "post", Data: json.RawMessage(`{"a":1}`), IdempotencyKey: "k-1"})
	if err != nil || res.Text != "plain" || seen.Load() != `POST /orders/text key=k-1 auth=s3cret {"a":1}` {
		t.Errorf("POST text: %+v %v %v", res, err, seen.Load())
	}
	_, err = g.CallService(ctx, activities.CallInput{Service: "orders", Endpoint: "bad", Method: "POST"})
	if errType(err) != activities.ErrTypeRemoteRejected || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), "quantity must be positive") {
		t.Errorf("4xx: %v", err)
	}
	for _, ep := range []string{"down", "slow"} {
		_, err = g.CallService(ctx, activities.CallInput{Service: "orders", Endpoint: ep})
		if err == nil || errType(err) != "" {
			t.Errorf("%s: %v, want a retryable error", ep, err)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: secret in error %v", ep, err)
		}
	}
	_, err = g.CallService(ctx, activities.CallInput{Service: "orders", Endpoint: "huge"})
	if err == nil || !strings.Contains(err.Error(), "caps answers") {
		t.Errorf("huge: %v", err)
	}
	_, err = g.CallService(ctx, activities.CallInput{Service: "billing", Endpoint: "x"})
	if errType(err) != activities.ErrTypeInvalidInput || !strings.Contains(err.Error(), "allowed are orders") {
		t.Errorf("unknown service: %v", err)
	}
}

func TestValidateEndpoint(t *testing.T) {
	for _, ok := range []string{"health", "/health", "deployments/orders/production/health", "orders?status=shipped&limit=5", "a-b_c.d/e", "search?path=a%2Fb&q=%5C"} {
		if err := activities.ValidateEndpoint(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "http://evil.example/x", "https://169.254.169.254/", "//evil.example/x", "../admin", "a/../../b",
		"a/./b", "%2e%2e/admin", "a%2fb", "a\\b", "a%5cb", "a%5Cb/c", "a\nb", "a b", "a\x00", "mailto:x@y", "#frag", strings.Repeat("a", 600), "file:///etc/passwd"} {
		if err := activities.ValidateEndpoint(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
