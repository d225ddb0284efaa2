package workflows_test

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/workflows"
)

// vendorSource is the shipped vendor access example.
func vendorSource(t *testing.T) (workflows.Definition, []byte) {
	t.Helper()
	data, err := os.ReadFile("../examples/processes/vendor_access.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := workflows.ParseDefinition("vendor_access.yaml", data, workflows.DefinitionRules{})
	if err != nil {
		t.Fatal(err)
	}
	return d, data
}

// TestVendorAccessIsRevokedAfterItsDays: the vendor example, approved, provisions the
// account and grants the role, waits 30 days in status waiting (milliseconds here) and
// revokes the access by itself.
func TestVendorAccessIsRevokedAfterItsDays(t *testing.T) {
	h := newHarness(t)
	d, src := vendorSource(t)
	start := h.env.Now().UTC()
	var during workflows.StatusView
	var access string
	h.at(time.Hour, func() { h.advance(decide(workflows.ActionApprove, "approval", "bob", "approve")) })
	h.at(10*24*time.Hour, func() {
		during = h.status()
		access = h.backends.Account("vendor@acme.example")["access"]
	})
	st, err := h.runProcess(d, src, `{"email": "vendor@acme.example", "name": "Acme support", "role": "editor", "days": 30}`)
	if err != nil || st.Status != workflows.StatusCompleted {
		t.Fatalf("ended %s: %v", st.Status, err)
	}
	if during.Status != workflows.StatusWaiting || during.Waiting == nil || during.Waiting.Step != "access_period" || access != "editor" {
		t.Errorf("on day 10: %s %+v, access %q", during.Status, during.Waiting, access)
	}
	if want := start.Add(time.Hour + 30*24*time.Hour); during.Waiting != nil && during.Waiting.Deadline.Sub(want).Abs() > time.Minute {
		t.Errorf("waits until %s, want about %s", during.Waiting.Deadline, want)
	}
	if a := h.backends.Account("vendor@acme.example"); a["status"] != "deprovisioned" {
		t.Errorf("account after the days: %v", a)
	}
	if st.Outputs["revoked_at"] == "" || !strings.HasPrefix(st.Outputs["account_id"], "acc-") {
		t.Errorf("outputs %v", st.Outputs)
	}
}

// TestVendorAccessStopsForAnActiveAccount: a vendor who has an active account already is
// refused by the guard with the reason, before anyone is asked or anything is provisioned.
func TestVendorAccessStopsForAnActiveAccount(t *testing.T) {
	h := newHarness(t)
	d, src := vendorSource(t)
	resp, err := http.Post(h.baseURL+"/users/accounts", "application/json", strings.NewReader(`{"email": "vendor@acme.example", "role": "viewer", "name": "Acme"}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("provision by hand: %v %v", resp, err)
	}
	resp.Body.Close()
	st, err := h.runProcess(d, src, `{"email": "vendor@acme.example", "name": "Acme support", "days": 3}`)
	want := "step no_active_account stopped the run: vendor@acme.example already has an active account; extend or revoke it instead of granting another"
	if err == nil || st.Status != workflows.StatusFailed || st.Error != want {
		t.Fatalf("ended %s with %q (%v); want failed with %q", st.Status, st.Error, err, want)
	}
	if s := stepOf(st, "approval"); s.Status != workflows.StepPending {
		t.Errorf("approval = %+v, want pending", s)
	}
	if a := h.backends.Account("vendor@acme.example"); a["status"] != "active" || a["access"] != "none" {
		t.Errorf("the vendor's own account was changed: %v", a)
	}
}
