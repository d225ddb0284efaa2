package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// ParamSchema is a definition's compiled parameter schema.
type ParamSchema struct {
	schema *jsonschema.Schema
	props  map[string]any
	// root names the object in errors: "parameters", or "inputs" for a gate's inputs.
	root string
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
	return &ParamSchema{schema: s, props: props, root: "parameters"}, nil
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
	if err := p.validate(v); err != nil {
		return nil, err
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// validate checks v (as a JSON decoder gives it) against the schema; the error names
// each field that fails, what is wrong and what is allowed.
func (p *ParamSchema) validate(v any) error {
	err := p.schema.Validate(v)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return paramErr(p.root, "what the schema of "+p.root+" allows", "%v", err)
	}
	var problems paramErrors
	for _, leaf := range leaves(ve) {
		pe := p.problem(leaf)
		if !slices.ContainsFunc(problems, func(q *ParamError) bool { return *q == *pe }) {
			problems = append(problems, pe)
		}
	}
	slices.SortFunc(problems, func(a, b *ParamError) int { return strings.Compare(a.Error(), b.Error()) })
	return problems
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

// paramErrors are every parameter a start got wrong; errors.As finds each *ParamError.
type paramErrors []*ParamError

func (e paramErrors) Error() string {
	parts := make([]string, len(e))
	for i, pe := range e {
		// A description may end its sentence: "(kept in lowercase)." then "; …" reads badly.
		parts[i] = strings.TrimSuffix(pe.Error(), ".")
	}
	return strings.Join(parts, "; ")
}

func (e paramErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, pe := range e {
		out[i] = pe
	}
	return out
}

// problem says which field failed, how, and what its schema allows. A field in a list is
// named with its index: parameters.evidence[0].
func (p *ParamSchema) problem(e *jsonschema.ValidationError) *ParamError {
	field := fieldName(p.root, e.InstanceLocation)
	pe := &ParamError{Field: field, Problem: e.ErrorKind.LocalizedString(printer)}
	switch k := e.ErrorKind.(type) {
	case *kind.Pattern:
		if len(k.Want) > maxShownPattern {
			// A long pattern tells a person nothing; the property's description says the form.
			pe.Problem = fmt.Sprintf("%q does not have the form this parameter takes", k.Got)
		}
	case *kind.AdditionalProperties:
		if len(e.InstanceLocation) == 0 && len(k.Properties) > 0 {
			// Name the first unknown field; the problem lists them all.
			pe.Field = fieldName(p.root, []string{k.Properties[0]})
			noun := "parameter"
			if p.root != "parameters" {
				noun = "field of " + p.root
			}
			pe.Problem = "is not a known " + noun + " (unknown: " + strings.Join(k.Properties, ", ") + ")"
		}
	}
	switch {
	case len(e.InstanceLocation) == 0:
		pe.Allowed = strings.Join(slices.Sorted(mapsKeys(p.props)), ", ")
	default:
		if prop, ok := p.props[e.InstanceLocation[0]].(map[string]any); ok {
			pe.Allowed = describeProperty(prop)
		}
	}
	return pe
}

// fieldName names a field by its location under root: parameters.NAME, with [i] for an
// index.
func fieldName(root string, loc []string) string {
	var b strings.Builder
	b.WriteString(root)
	for _, part := range loc {
		if _, err := strconv.Atoi(part); err == nil {
			b.WriteString("[" + part + "]")
			continue
		}
		b.WriteString("." + part)
	}
	return b.String()
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

// maxShownPattern is the longest pattern an error quotes; a longer one is left to the
// property's description.
const maxShownPattern = 60

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
	if pat, ok := prop["pattern"].(string); ok && len(pat) <= maxShownPattern {
		parts = append(parts, "matching "+pat)
	}
	if f, ok := prop["format"].(string); ok {
		parts = append(parts, "format "+f)
	}
	if n, ok := prop["minItems"]; ok {
		parts = append(parts, "at least "+text(n)+" items")
	}
	if n, ok := prop["maxItems"]; ok {
		parts = append(parts, "at most "+text(n)+" items")
	}
	if u, ok := prop["uniqueItems"].(bool); ok && u {
		parts = append(parts, "each item once")
	}
	if items, ok := prop["items"].(map[string]any); ok {
		if d := describeProperty(items); d != "" {
			parts = append(parts, "items: "+d)
		}
	}
	out := strings.Join(parts, ", ")
	if d, ok := prop["description"].(string); ok {
		out += " — " + d
	}
	return out
}
