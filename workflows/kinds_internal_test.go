package workflows

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestEditorSchemaFollowsTheKindRegistry: docs/process.schema.json, which editors use,
// offers a step, an action and an undo exactly the kinds the registry runs, and each
// kind's declaration exactly the fields the loader reads. A kind added to actKinds
// without its schema (or a field without its property) fails here.
func TestEditorSchemaFollowsTheKindRegistry(t *testing.T) {
	raw, err := os.ReadFile("../docs/process.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	type object struct {
		Properties map[string]json.RawMessage `json:"properties"`
		OneOf      []struct {
			Required []string `json:"required"`
		} `json:"oneOf"`
	}
	var schema struct {
		Defs map[string]object `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	alternatives := func(o object) []string {
		var out []string
		for _, alt := range o.OneOf {
			out = append(out, alt.Required...)
		}
		return out
	}
	if got := alternatives(schema.Defs["step"]); !slices.Equal(got, StepKinds) {
		t.Errorf("the editor offers a step the kinds %v; the registry has %v", got, StepKinds)
	}
	if got, want := alternatives(schema.Defs["action"]), actKindNames(false); !slices.Equal(got, want) {
		t.Errorf("the editor offers an action the kinds %v; the registry has %v", got, want)
	}
	var compensate object
	if err := json.Unmarshal(schema.Defs["step"].Properties["compensate"], &compensate); err != nil {
		t.Fatal(err)
	}
	if got, want := alternatives(compensate), actKindNames(true); !slices.Equal(got, want) {
		t.Errorf("the editor offers an undo the kinds %v; the registry has %v", got, want)
	}
	declarations := map[string]reflect.Type{
		"call": reflect.TypeFor[CallStep](), "sql": reflect.TypeFor[SQLStep](),
		"file": reflect.TypeFor[FileStep](), "builtin": reflect.TypeFor[BuiltinStep](),
		"approval": reflect.TypeFor[ApprovalStep](), "step": reflect.TypeFor[StepDef](),
		"action": reflect.TypeFor[ActionDef](), "fail": reflect.TypeFor[FailStep](), "wait": reflect.TypeFor[WaitStep](),
		"schedule": reflect.TypeFor[ScheduleDef](),
	}
	for _, k := range actKinds {
		if declarations[k.name] == nil {
			t.Errorf("kind %s has no declaration type in this test", k.name)
		}
	}
	for name, typ := range declarations {
		var fields []string
		for f := range typ.Fields() {
			fields = append(fields, strings.Split(f.Tag.Get("yaml"), ",")[0])
		}
		slices.Sort(fields)
		var props []string
		for p := range schema.Defs[name].Properties {
			props = append(props, p)
		}
		slices.Sort(props)
		if !slices.Equal(fields, props) {
			t.Errorf("the editor's %s has the fields %v; the loader reads %v", name, props, fields)
		}
	}
}

// TestDescribeSaysWhatEveryKindDoes: describe_process tells an agent what each step of a
// shipped definition does and how it is undone, whatever its kind (an operation and a
// step of actions included, which once read as nothing).
func TestDescribeSaysWhatEveryKindDoes(t *testing.T) {
	data, err := os.ReadFile("processes/onboarding.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDefinition("onboarding.yaml", data, DefinitionRules{AnyService: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]StepDescription{
		"validate":           {Kind: "builtin", Does: "run Flowgate's operation check_email_available"},
		"create_user_record": {Kind: "builtin", Does: "run Flowgate's operation create_user", Undo: "run Flowgate's operation deactivate_user"},
		"manager_approval":   {Kind: "approval", Does: "wait for 1 approval"},
	}
	for _, s := range d.Steps {
		got := d.Describe(s)
		if got.Kind == "" || got.Does == "" {
			t.Errorf("step %s is described as %+v", s.Name, got)
		}
		if w, ok := want[s.Name]; ok && got != w {
			t.Errorf("step %s is described as %+v; want %+v", s.Name, got, w)
		}
		if s.Name == "grant_access" && !strings.HasPrefix(got.Does, "in order: activate: run Flowgate's operation activate_user; grant: POST ") {
			t.Errorf("step grant_access is described as %q", got.Does)
		}
	}
}
