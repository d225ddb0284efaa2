package mcpserver

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A gate that declares inputs (workflows.Waiting.Inputs, a JSON Schema object of
// primitive fields) is decided on the approval page with a form: one labelled field per
// input, whose value is read back by the same schema into the JSON type the gate checks.
// The gate stays the judge of the values; the form only asks, and types what it read.

// inputPrefix starts the form name of each input, so no input can take the name of the
// link's token, the form token, the action or the comment.
const inputPrefix = "inputs."

// inputField is one input as the page renders it.
type inputField struct {
	Name  string
	Label string
	// Kind is the control: "select", "checkbox", or an <input> type (number, text, email,
	// date, datetime-local, url).
	Kind                          string
	Step, Min, Max                string
	MinLength, MaxLength, Pattern string
	Required                      bool
	Help                          string
	Options                       []inputOption
	Value                         string
	Checked                       bool
	Error                         string
}

type inputOption struct {
	Value    string
	Selected bool
}

// FormName is the field's name in the posted form.
func (f inputField) FormName() string { return inputPrefix + f.Name }

// ID is the field's element id; HelpID and ErrorID are those of its help and error text.
func (f inputField) ID() string      { return "input-" + f.Name }
func (f inputField) HelpID() string  { return f.ID() + "-help" }
func (f inputField) ErrorID() string { return f.ID() + "-error" }

// DescribedBy is the field's aria-describedby: its error first, then its help.
func (f inputField) DescribedBy() string {
	var ids []string
	if f.Error != "" {
		ids = append(ids, f.ErrorID())
	}
	if f.Help != "" {
		ids = append(ids, f.HelpID())
	}
	return strings.Join(ids, " ")
}

// inputFields are the fields of schema in name order (required ones first), filled with
// the posted values, or on a first visit (posted nil) with the schema's defaults; the
// field named in problem, if any, carries what problem says of it as its error.
func inputFields(schema map[string]any, posted url.Values, problem string) []inputField {
	props, _ := schema["properties"].(map[string]any)
	required := requiredSet(schema)
	names := slices.Sorted(maps.Keys(props))
	slices.SortStableFunc(names, func(a, b string) int {
		switch {
		case required[a] && !required[b]:
			return -1
		case required[b] && !required[a]:
			return 1
		}
		return 0
	})
	bad, why := fieldOf(problem)
	var out []inputField
	for _, name := range names {
		prop, ok := props[name].(map[string]any)
		if !ok {
			continue
		}
		f := inputField{Name: name, Label: name, Required: required[name], Value: posted.Get(inputPrefix + name)}
		if d, ok := prop["default"]; ok && posted == nil {
			f.Value = formValue(d) // a first visit starts from the schema's default
			if d == false {
				f.Value = ""
			}
		}
		if t, _ := prop["title"].(string); t != "" {
			f.Label = t
		}
		typ, _ := prop["type"].(string)
		format, _ := prop["format"].(string)
		switch typ {
		case "integer", "number":
			f.Kind, f.Step = "number", "any"
			if typ == "integer" {
				f.Step = "1"
			}
			f.Min, f.Max = number(prop["minimum"]), number(prop["maximum"])
		case "boolean":
			f.Kind = "checkbox"
			f.Checked = f.Value != ""
		default:
			f.Kind = map[string]string{"date": "date", "date-time": "datetime-local", "email": "email", "uri": "url"}[format]
			if f.Kind == "" {
				f.Kind = "text"
			}
			f.MinLength, f.MaxLength = number(prop["minLength"]), number(prop["maxLength"])
			if p, _ := prop["pattern"].(string); p != "" {
				f.Pattern = htmlPattern(p)
			}
		}
		if enum, ok := prop["enum"].([]any); ok && typ != "boolean" {
			f.Kind = "select"
			for _, e := range enum {
				v := formValue(e)
				f.Options = append(f.Options, inputOption{Value: v, Selected: v == f.Value})
			}
		}
		f.Help = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(description(prop)), ".") + ". " + constraints(typ, format, prop, f.Required))
		f.Help = strings.TrimPrefix(f.Help, ". ")
		if name == bad {
			f.Error = why
		}
		out = append(out, f)
	}
	return out
}

func description(prop map[string]any) string { s, _ := prop["description"].(string); return s }

// constraints says in words what a field takes, for people who never see the browser's
// own hints (a screen reader announces the help text; it may not read min or pattern).
func constraints(typ, format string, prop map[string]any, required bool) string {
	var parts []string
	switch typ {
	case "integer":
		parts = append(parts, "A whole number")
	case "number":
		parts = append(parts, "A number")
	case "boolean":
		parts = append(parts, "Tick for yes")
	default:
		parts = append(parts, map[string]string{"date": "A date", "date-time": "A date and time (UTC)", "email": "An email address", "uri": "A web address (https://…)"}[format])
	}
	if v := number(prop["minimum"]); v != "" {
		parts = append(parts, "at least "+v)
	}
	if v := number(prop["maximum"]); v != "" {
		parts = append(parts, "at most "+v)
	}
	if v := number(prop["minLength"]); v != "" {
		parts = append(parts, "at least "+v+" characters")
	}
	if v := number(prop["maxLength"]); v != "" {
		parts = append(parts, "at most "+v+" characters")
	}
	if p, _ := prop["pattern"].(string); p != "" {
		parts = append(parts, "matching "+p)
	}
	parts = slices.DeleteFunc(parts, func(s string) bool { return s == "" })
	text := strings.Join(parts, ", ")
	if text != "" {
		text = strings.ToUpper(text[:1]) + text[1:] + "."
	}
	if required {
		text = strings.TrimSpace("Required. " + text)
	} else if typ != "boolean" {
		text = strings.TrimSpace("Optional. " + text)
	}
	return text
}

// inputFieldName finds the input a refusal names, as the gate's schema check and
// formInputs do: "inputs.approved_cents: got string, want integer".
var inputFieldName = regexp.MustCompile(`\binputs\.([a-z][a-z0-9_]*): (.+)`)

// fieldOf returns the input a refusal names and what it says of it, or "".
func fieldOf(problem string) (name, why string) {
	if m := inputFieldName.FindStringSubmatch(problem); m != nil {
		return m[1], m[2]
	}
	return "", ""
}

// htmlPattern is a JSON Schema pattern as an HTML pattern attribute: HTML anchors its
// pattern at both ends, JSON Schema matches anywhere, so an unanchored one is widened.
func htmlPattern(p string) string {
	if strings.HasPrefix(p, "^") && strings.HasSuffix(p, "$") && !strings.HasSuffix(p, `\$`) {
		return p
	}
	return ".*(?:" + p + ").*"
}

// number writes a schema's number (JSON's float64) as a form attribute: "" when absent.
func number(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}

func formValue(v any) string {
	if s := number(v); s != "" {
		return s
	}
	return fmt.Sprint(v)
}

// formInputs reads the posted inputs by schema: integers as int64, numbers as float64,
// checkboxes as booleans, dates and times as RFC 3339; a field left empty that is not
// required is left out, so the gate sees what the approver gave and nothing else. A
// value that cannot be its type is refused here, naming the field as the gate would.
func formInputs(schema map[string]any, form url.Values) (map[string]any, error) {
	props, _ := schema["properties"].(map[string]any)
	required := requiredSet(schema)
	out := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(props)) {
		prop, _ := props[name].(map[string]any)
		typ, _ := prop["type"].(string)
		raw := strings.TrimSpace(form.Get(inputPrefix + name))
		if typ == "boolean" {
			out[name] = raw != ""
			continue
		}
		if raw == "" {
			if required[name] {
				return nil, fmt.Errorf("inputs.%s: is required; fill it in", name)
			}
			continue
		}
		switch typ {
		case "integer":
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("inputs.%s: %q is not a whole number", name, raw)
			}
			out[name] = n
		case "number":
			f, err := strconv.ParseFloat(raw, 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return nil, fmt.Errorf("inputs.%s: %q is not a number", name, raw)
			}
			out[name] = f
		default:
			if format, _ := prop["format"].(string); format == "date-time" {
				t, err := localTime(raw)
				if err != nil {
					return nil, fmt.Errorf("inputs.%s: %q is not a date and time (2026-12-31T17:30)", name, raw)
				}
				raw = t.Format(time.RFC3339)
			}
			out[name] = raw
		}
	}
	return out, nil
}

// localTime reads a datetime-local control's value (no zone: the page says UTC), or a
// full RFC 3339 time.
func localTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("not a date and time")
}

// requiredSet is the names a schema requires.
func requiredSet(schema map[string]any) map[string]bool {
	out := map[string]bool{}
	for _, r := range asStrings(schema["required"]) {
		out[r] = true
	}
	return out
}
