package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// ParamSchema is a definition's compiled parameter schema.
type ParamSchema struct {
	schema *jsonschema.Schema
	props  map[string]any
}

// CompileParams compiles the definition's parameter schema (JSON Schema 2020-12).
func CompileParams(d Definition) (*ParamSchema, error) {
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.AssertFormat()
	doc := jsonValue(d.Parameters)
	if err := comp.AddResource("parameters.json", doc); err != nil {
		return nil, err
	}
	s, err := comp.Compile("parameters.json")
	if err != nil {
		return nil, err
	}
	props, _ := doc.(map[string]any)["properties"].(map[string]any)
	return &ParamSchema{schema: s, props: props}, nil
}

var printer = message.NewPrinter(language.English)

// Check fills in the defaults of missing top-level parameters and validates them. It
// returns the parameters the run starts with, or an error naming each field that fails:
// what is wrong and what is allowed.
func (p *ParamSchema) Check(raw json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, paramErr("parameters", "a JSON object", "cannot be read: %v", err)
	}
	if obj, ok := v.(map[string]any); ok {
		for name, prop := range p.props {
			if def, has := prop.(map[string]any)["default"]; has {
				if _, given := obj[name]; !given {
					obj[name] = def
				}
			}
		}
	}
	if err := p.schema.Validate(v); err != nil {
		ve, ok := err.(*jsonschema.ValidationError)
		if !ok {
			return nil, paramErr("parameters", "what the process's parameter schema allows", "%v", err)
		}
		var problems []string
		for _, leaf := range leaves(ve) {
			problems = append(problems, p.problem(leaf))
		}
		slices.Sort(problems)
		return nil, fmt.Errorf("%s", strings.Join(slices.Compact(problems), "; "))
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// problem says which field failed, how, and what its schema allows.
func (p *ParamSchema) problem(e *jsonschema.ValidationError) string {
	field := strings.Join(append([]string{"parameters"}, e.InstanceLocation...), ".")
	msg := field + ": " + e.ErrorKind.LocalizedString(printer)
	if len(e.InstanceLocation) == 1 {
		if prop, ok := p.props[e.InstanceLocation[0]].(map[string]any); ok {
			if allowed := describeProperty(prop); allowed != "" {
				msg += "; allowed: " + allowed
			}
		}
	}
	if len(e.InstanceLocation) == 0 {
		msg += "; allowed: " + strings.Join(slices.Sorted(mapsKeys(p.props)), ", ")
	}
	return msg
}

func mapsKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// describeProperty says in words what a property's schema allows.
func describeProperty(prop map[string]any) string {
	var parts []string
	if t, ok := prop["type"].(string); ok {
		parts = append(parts, t)
	}
	if e, ok := prop["enum"].([]any); ok {
		var vals []string
		for _, v := range e {
			vals = append(vals, fmt.Sprint(v))
		}
		parts = append(parts, "one of "+strings.Join(vals, ", "))
	}
	lo, hasLo := prop["minimum"]
	hi, hasHi := prop["maximum"]
	switch {
	case hasLo && hasHi:
		parts = append(parts, fmt.Sprintf("from %s to %s", text(lo), text(hi)))
	case hasLo:
		parts = append(parts, "at least "+text(lo))
	case hasHi:
		parts = append(parts, "at most "+text(hi))
	}
	if n, ok := prop["maxLength"]; ok {
		parts = append(parts, "up to "+text(n)+" characters")
	}
	if pat, ok := prop["pattern"].(string); ok {
		parts = append(parts, "matching "+pat)
	}
	if f, ok := prop["format"].(string); ok {
		parts = append(parts, "format "+f)
	}
	out := strings.Join(parts, ", ")
	if d, ok := prop["description"].(string); ok {
		out += " — " + d
	}
	return out
}
