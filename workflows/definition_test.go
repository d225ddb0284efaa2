package workflows_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/flowgate/flowgate/workflows"
)

// TestExampleDefinitionIsValid: the documented example parses and says what it declares.
func TestExampleDefinitionIsValid(t *testing.T) {
	data, err := os.ReadFile("../examples/processes/access_request.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := workflows.ParseDefinition("access_request.yaml", data, workflows.DefinitionRules{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := []string{}
	for _, s := range d.Steps {
		kinds = append(kinds, s.Name+":"+s.Kind())
	}
	if d.Name != "access_request" || d.Version != 1 ||
		strings.Join(kinds, " ") != "find_user:sql admin_approval:approval approval:approval grant_access:call notify:call" {
		t.Errorf("definition = %s v%d, steps %v", d.Name, d.Version, kinds)
	}
}

// TestBadDefinitionsNameFileLineAndRule: each kind of mistake is refused with the file,
// the line it is on, what is wrong and what is allowed.
func TestBadDefinitionsNameFileLineAndRule(t *testing.T) {
	const head = "name: p\ntitle: P\nversion: 1\nsummary: s\nparameters:\n  type: object\n  properties:\n    amount: {type: integer}\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown step kind", head + "steps:\n  - name: a\n    email: {to: x}\n", `p.yaml:11: unknown field "email"`},
		{"no kind", head + "steps:\n  - name: a\n", `p.yaml:10: step "a" has no kind; allowed: exactly one of call, sql, file, builtin, actions, approval, wait, fail`},
		{"two kinds", head + "steps:\n  - name: a\n    approval: {scope: approve}\n    file: {action: parse, path: x.json}\n", `p.yaml:10: step "a" has several kinds (file, approval)`},
		{"duplicate step", head + "steps:\n  - name: a\n    approval: {scope: approve}\n  - name: a\n    approval: {scope: approve}\n", `p.yaml:12: step "a" is declared twice (first as step 1)`},
		{"later step", head + "steps:\n  - name: a\n    call: {service: users, method: GET, endpoint: \"accounts/{{steps.b.output}}\"}\n  - name: b\n    approval: {scope: approve}\n", `p.yaml:11: steps.b.output refers to a step that does not exist or comes later`},
		{"missing parameter", head + "steps:\n  - name: a\n    call: {service: users, method: GET, endpoint: \"accounts/{{params.user}}\"}\n", `p.yaml:11: params.user names a parameter the schema does not declare; allowed: amount`},
		{"cel does not compile", head + "steps:\n  - name: a\n    when: params.amount >\n    approval: {scope: approve}\n", `p.yaml:11: condition "params.amount >" does not compile`},
		{"cel not boolean", head + "steps:\n  - name: a\n    when: \"'yes'\"\n    approval: {scope: approve}\n", `p.yaml:11: condition "'yes'" is of type string; allowed: a boolean CEL expression`},
		{"service not configured", head + "steps:\n  - name: a\n    call: {service: payments, method: POST, endpoint: refunds}\n", `p.yaml:11: service "payments" is not configured; allowed: users, products, orders, deploy, notifications`},
		{"read statement that writes", head + "statements:\n  s: {mode: read, query: \"DELETE FROM users WHERE id = :id\"}\nsteps:\n  - name: a\n    sql: {statement: s, args: {id: \"1\"}}\n", `p.yaml:10: statement "s" is marked read but is not read-only`},
		{"undeclared statement", head + "steps:\n  - name: a\n    sql: {statement: nope}\n", `p.yaml:11: statement "nope" is not declared`},
		{"parameters not a schema", "name: p\ntitle: P\nversion: 1\nsummary: s\nparameters:\n  type: object\n  properties:\n    amount: {type: integr}\nsteps:\n  - name: a\n    approval: {scope: approve}\n", `p.yaml:5: parameters is not a valid JSON Schema (2020-12)`},
		{"quorum over group", head + "steps:\n  - name: a\n    approval: {approvers: [ann, bob], quorum: 3}\n", `p.yaml:11: quorum 3 is larger than the 2 approvers; allowed: at most 2, or a scope`},
		{"path outside sandbox", head + "steps:\n  - name: a\n    file: {action: parse, path: ../secret.json}\n", `p.yaml:11: path: "../secret.json" has a '..' segment`},
		{"syntax", "name: p\nsteps: [\n", `p.yaml:2: did not find expected node content`},
		{"service template not a parameter", head + "steps:\n  - name: a\n    call: {service: \"{{run.id}}\", method: GET, endpoint: health}\n", `p.yaml:11: service "{{run.id}}"; allowed: a configured service (users, products, orders, deploy, notifications) or one parameter, such as {{params.service}}`},
		{"template neither reference nor CEL", head + "steps:\n  - name: a\n    call: {service: users, method: GET, endpoint: \"x/{{params.amount +}}\"}\n", `p.yaml:11: template {{params.amount +}} is neither a reference nor a CEL expression`},
		{"CEL template names a missing parameter", head + "steps:\n  - name: a\n    call: {service: users, method: GET, endpoint: health}\n    result: \"{{params.user + 'x'}}\"\n", `p.yaml:12: params.user names a parameter the schema does not declare`},
		{"unknown on_failure", head + "steps:\n  - name: a\n    call: {service: users, method: GET, endpoint: health}\n    on_failure: retry\n", `p.yaml:12: on_failure "retry"; allowed: wait (for continue or reject), fail (end the run failed)`},
		{"skip_reason without when", head + "steps:\n  - name: a\n    call: {service: users, method: GET, endpoint: health}\n    skip_reason: never\n", `p.yaml:12: skip_reason without when`},
		{"retry out of range", head + "steps:\n  - name: a\n    call: {service: users, method: GET, endpoint: health}\n    retry: {maximum_attempts: 1000, initial_interval: soon}\n", `maximum_attempts 1000; allowed: 1 to 100`},
		{"result on a gate", head + "steps:\n  - name: a\n    approval: {scope: approve}\n    result: done\n", `p.yaml:12: approval step "a" cannot have result`},
		{"output of a later step", head + "outputs:\n  id: \"{{steps.b.output}}\"\nsteps:\n  - name: a\n    approval: {scope: approve}\n", `p.yaml:10: steps.b.output refers to a step that does not exist or comes later`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := workflows.ParseDefinition("p.yaml", []byte(tc.yaml), workflows.DefinitionRules{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestEditorSchemaAgreesWithTheLoader: docs/process.schema.json, which editors use,
// accepts the example the loader accepts and refuses a step of an unknown kind.
func TestEditorSchemaAgreesWithTheLoader(t *testing.T) {
	raw, err := os.ReadFile("../docs/process.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("process.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("process.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	asJSON := func(y string) any {
		var v any
		if err := yaml.Unmarshal([]byte(y), &v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		out, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		return out
	}
	files, _ := filepath.Glob("../examples/processes/*.yaml")
	shipped, _ := filepath.Glob("processes/*.yaml")
	for _, f := range append(files, shipped...) {
		if strings.HasSuffix(f, ".test.yaml") {
			continue // a test file beside its definition (internal/proctest)
		}
		example, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(asJSON(string(example))); err != nil {
			t.Errorf("the editor schema refuses %s: %v", f, err)
		}
	}
	if len(files) < 2 || len(shipped) < 1 {
		t.Errorf("found %d examples and %d shipped definitions", len(files), len(shipped))
	}
	// The editor offers exactly the operations the loader knows.
	var editor struct {
		Defs struct {
			Builtin struct {
				Properties struct {
					Operation struct {
						Enum []string `json:"enum"`
					} `json:"operation"`
				} `json:"properties"`
			} `json:"builtin"`
		} `json:"$defs"`
	}
	text, _ := os.ReadFile("../docs/process.schema.json")
	if err := json.Unmarshal(text, &editor); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, op := range workflows.Operations() {
		ops = append(ops, op[0])
	}
	if !slices.Equal(editor.Defs.Builtin.Properties.Operation.Enum, ops) {
		t.Errorf("the editor schema offers operations %v; the loader knows %v", editor.Defs.Builtin.Properties.Operation.Enum, ops)
	}
	bad := "name: p\ntitle: P\nversion: 1\nsummary: s\nparameters: {type: object}\nsteps:\n  - name: a\n    email: {to: x}\n"
	if err := schema.Validate(asJSON(bad)); err == nil {
		t.Error("the editor schema accepts a step of an unknown kind")
	}
}

// TestYAMLErrorsNameTheFieldAndWhatIsAllowed: a value of the wrong type names its field
// and the kind of value allowed, and an unknown field lists the fields of the declaration
// it is in (a misspelt quorum offers quorum), as every other loading error does.
func TestYAMLErrorsNameTheFieldAndWhatIsAllowed(t *testing.T) {
	data, err := os.ReadFile("../examples/processes/refund_approval.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for change, want := range map[string]string{
		"quorum: two": "refund.yaml:58: quorum: `two` is not a whole number; allowed: a whole number",
		"quorom: 2":   `refund.yaml:58: unknown field "quorom"; allowed: approvers, scope, quorum, separation_of_duties, deadline, on_timeout, escalate, reminder`,
	} {
		_, err := workflows.ParseDefinition("refund.yaml", []byte(strings.Replace(string(data), "quorum: 2", change, 1)), workflows.DefinitionRules{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", change, err, want)
		}
	}
}
