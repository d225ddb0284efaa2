package workflows_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/workflows"
)

func TestPrepareStartRefusesBadParameters(t *testing.T) {
	req := workflows.Request{RequestedBy: "alice"}
	cases := []struct {
		kind   workflows.Kind
		params string
		field  string
	}{
		{"payroll", `{}`, "workflow_type"},
		{workflows.KindOnboarding, `{"email":"nope","name":"A","role":"viewer"}`, "parameters.email"},
		{workflows.KindOnboarding, `{"email":"Ada <ada@example.com>","name":"A","role":"viewer"}`, "parameters.email"},
		{workflows.KindOnboarding, `{"email":"ada@example.com","name":"   ","role":"viewer"}`, "parameters.name"},
		{workflows.KindOnboarding, `{"email":"ada@example.com","name":"` + strings.Repeat("n", 101) + `","role":"viewer"}`, "parameters.name"},
		{workflows.KindOnboarding, `{"email":"ada@example.com","name":"Ada","role":"root"}`, "parameters.role"},
		{workflows.KindOnboarding, `{"email":"ada@example.com","name":"Ada","role":"viewer","salary":1}`, "parameters.salary"},
		{workflows.KindOnboarding, `{"email":42,"name":"Ada","role":"viewer"}`, "parameters.email"},
		{workflows.KindOnboarding, `[1,2]`, "parameters"},
		{workflows.KindDeployment, `{"service":"Orders!","version":"1.0.0","environment":"dev"}`, "parameters.service"},
		{workflows.KindDeployment, `{"service":"orders","version":"latest","environment":"dev"}`, "parameters.version"},
		{workflows.KindDeployment, `{"service":"orders","version":"1.2","environment":"dev"}`, "parameters.version"},
		{workflows.KindDeployment, `{"service":"orders","version":"1.2.3","environment":"prod"}`, "parameters.environment"},
		{workflows.KindDeployment, `{"service":"orders","version":"1.2.3","environment":"dev","manifest":"../secrets.json"}`, "parameters.manifest"},
		{workflows.KindDeployment, `{"service":"orders","version":"1.2.3","environment":"dev","manifest":"/etc/m.json"}`, "parameters.manifest"},
		{workflows.KindDeployment, `{"service":"orders","version":"1.2.3","environment":"dev","manifest":"m.yaml"}`, "parameters.manifest"},
		{workflows.KindDeployment, `{"service":"orders","version":"1.2.3","environment":"dev","manifest":"manifests/../../x.json"}`, "parameters.manifest"},
		{workflows.KindAudit, `{"tables":[]}`, "parameters.tables"},
		{workflows.KindAudit, `{"tables":["users","secrets"]}`, "parameters.tables[1]"},
		{workflows.KindAudit, `{"tables":["users","users"]}`, "parameters.tables"},
		{workflows.KindAudit, `{"tables":["users"],"since":"yesterday"}`, "parameters.since"},
		{workflows.KindAudit, `{"tables":["users"],"evidence":["../x.csv"]}`, "parameters.evidence[0]"},
	}
	for _, c := range cases {
		_, err := app.PrepareStart(c.kind, json.RawMessage(c.params), req)
		var pe *workflows.ParamError
		if !errors.As(err, &pe) || pe.Field != c.field || pe.Problem == "" || pe.Allowed == "" {
			t.Errorf("%s %s: error %v, want one naming %s with the problem and what is allowed", c.kind, c.params, err, c.field)
		}
	}
	if _, err := app.PrepareStart(workflows.KindAudit, json.RawMessage(`{"tables":["users"]}`), workflows.Request{}); err == nil {
		t.Error("a start without requester was accepted")
	}
}

// TestPrepareStartNormalizes: an onboarding's email and name are trimmed and the email
// lowercased where the run uses them, starting with its summary.
func TestPrepareStartNormalizes(t *testing.T) {
	s, err := app.PrepareStart(workflows.KindOnboarding,
		json.RawMessage(`{"email":" Ada@Example.com ","name":"  Ada Lovelace ","role":"admin"}`), workflows.Request{RequestedBy: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "Onboard Ada Lovelace <ada@example.com> as admin, requested by alice"; s.Summary != want {
		t.Errorf("summary = %q, want %q", s.Summary, want)
	}
}
