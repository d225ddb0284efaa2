package proctest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/flowgate/flowgate/workflows"
)

// StarterPath is where the starter test file of the definition at defPath goes: NAME.test.yaml
// beside NAME.yaml.
func StarterPath(defPath string) string {
	base := strings.TrimSuffix(strings.TrimSuffix(defPath, ".yaml"), ".yml")
	return base + Suffix
}

// WriteStarter writes the starter test file of the definition at defPath beside it and
// returns its path; it refuses to overwrite a file that exists.
func WriteStarter(defPath string) (string, error) {
	data, err := os.ReadFile(defPath)
	if err != nil {
		return "", err
	}
	out := StarterPath(defPath)
	if _, err := os.Stat(out); err == nil {
		return out, fmt.Errorf("%s exists; --init does not overwrite it (move it away to write a new one)", out)
	}
	text, err := Starter(filepath.Base(out), data)
	if err != nil {
		return out, err
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return out, fmt.Errorf("%s exists; --init does not overwrite it", out)
		}
		return out, err
	}
	if _, err := f.Write(text); err != nil {
		f.Close()
		return out, err
	}
	return out, f.Close()
}

// starterFile, starterCase and starterStep are a test file as the starter writes it.
type starterFile struct {
	Identities map[string][]string `yaml:"identities,omitempty"`
	Cases      []starterCase       `yaml:"cases"`
}

type starterCase struct {
	Name   string                    `yaml:"name"`
	Params map[string]any            `yaml:"params,omitempty"`
	Mocks  map[string][]starterReply `yaml:"mocks,omitempty"`
	Script []starterStep             `yaml:"script,omitempty"`
	Expect starterExpect             `yaml:"expect"`
}

type starterReply struct {
	Output any `yaml:"output"`
}

type starterStep struct {
	Approve string         `yaml:"approve,omitempty"`
	Reject  string         `yaml:"reject,omitempty"`
	As      string         `yaml:"as"`
	Comment string         `yaml:"comment,omitempty"`
	Inputs  map[string]any `yaml:"inputs,omitempty"`
}

type starterExpect struct {
	Status string              `yaml:"status"`
	Steps  []map[string]string `yaml:"steps,omitempty"`
}

// Starter writes a starter test file (named name) for a definition: per gate a case that
// approves it, one that rejects it and one that lets it time out, with a mock for every
// act filled from the definition (a read statement answers one row of the columns its
// SELECT names; a write one row affected; a call, file or operation {}). Parameters are
// made from the definition's schema; where a gate's when is false for them, other values
// (each enum value, the maximum of a number, the optional fields) are tried. Each case's
// expect is what the run did on this build, so the file passes as written: read each one
// and keep it only if it is what the process should do.
func Starter(name string, def []byte) ([]byte, error) {
	d, err := workflows.ParseDefinition("definition.yaml", def, workflows.DefinitionRules{AnyService: true})
	if err != nil {
		return nil, err
	}
	g := &starter{name: name, def: def, d: d, ids: map[string][]string{}}
	g.mocks = mocksOf(d)
	var gates []workflows.StepDef
	for _, s := range d.Steps {
		if s.Approval != nil {
			gates = append(gates, s)
			g.deciders(s)
		}
	}
	variants := paramVariants(d.Parameters)
	// paths[i] is the gates a run with variants[i] reaches when each is approved.
	paths := make([][]string, len(variants))
	explored := make([]bool, len(variants))
	var out starterFile
	if len(gates) == 0 {
		c, err := g.recorded("runs to its end", variants[0], nil)
		if err != nil {
			return nil, err
		}
		out.Cases = append(out.Cases, c)
	}
	var unreached []string
	for _, gate := range gates {
		vi := -1
		for i := range variants {
			if !explored[i] {
				if paths[i], err = g.explore(variants[i]); err != nil {
					return nil, err
				}
				explored[i] = true
			}
			if slices.Contains(paths[i], gate.Name) {
				vi = i
				break
			}
		}
		if vi < 0 {
			unreached = append(unreached, gate.Name)
			continue
		}
		path, params := paths[vi], variants[vi]
		at := slices.Index(path, gate.Name)
		var before []starterStep
		for _, p := range path[:at] {
			before = append(before, g.approvals(p)...)
		}
		var all []starterStep
		for _, p := range path {
			all = append(all, g.approvals(p)...)
		}
		reject := append(slices.Clone(before), starterStep{Reject: gate.Name, As: g.gateIDs[gate.Name][0], Comment: "rejected by the starter test"})
		for _, c := range []struct {
			name   string
			script []starterStep
		}{
			{gate.Name + " approved", all},
			{gate.Name + " rejected", reject},
			{gate.Name + " times out", before},
		} {
			cs, err := g.recorded(c.name, params, c.script)
			if err != nil {
				return nil, err
			}
			out.Cases = append(out.Cases, cs)
		}
	}
	out.Identities = g.ids
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# A starter test of %s, written by `flowgate processes test --init`.\n", d.Name)
	buf.WriteString("# Each case's expect is what the run did on the build that wrote this file, so it passes\n")
	buf.WriteString("# as written: check each against what the process should do, then add cases for the\n")
	buf.WriteString("# failures, retries and compensations that matter (docs/testing.md gives the format).\n")
	for _, u := range unreached {
		fmt.Fprintf(&buf, "# No parameters tried reached gate %s: add its cases by hand.\n", u)
	}
	var doc yaml.Node
	if err := doc.Encode(out); err != nil {
		return nil, err
	}
	shareMocks(&doc)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// shareMocks writes the mocks once, on the first case (&mocks), and as *mocks on the
// others: every case of a starter has the same.
func shareMocks(doc *yaml.Node) {
	var first *yaml.Node
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value != "cases" {
			continue
		}
		for _, c := range doc.Content[i+1].Content {
			for j := 0; j+1 < len(c.Content); j += 2 {
				if c.Content[j].Value != "mocks" {
					continue
				}
				if first == nil {
					first = c.Content[j+1]
					first.Anchor = "mocks"
					continue
				}
				c.Content[j+1] = &yaml.Node{Kind: yaml.AliasNode, Value: "mocks", Alias: first}
			}
		}
	}
}

type starter struct {
	name  string
	def   []byte
	d     workflows.Definition
	mocks map[string][]starterReply
	ids   map[string][]string
	// gateIDs are who approve each gate, enough for its quorum.
	gateIDs map[string][]string
	inputs  map[string]map[string]any
}

// deciders declares the identities that decide gate s: its approvers by name, or as
// many holders of its scope as its quorum needs; and the same for its escalation.
func (g *starter) deciders(s workflows.StepDef) {
	if g.gateIDs == nil {
		g.gateIDs, g.inputs = map[string][]string{}, map[string]map[string]any{}
	}
	a := s.Approval
	quorum := max(a.Quorum, 1)
	var names []string
	if len(a.Approvers) > 0 {
		names = a.Approvers[:min(quorum, len(a.Approvers))]
		for _, n := range a.Approvers {
			if _, ok := g.ids[n]; !ok {
				g.ids[n] = []string{}
			}
		}
	} else {
		for i := 1; i <= quorum; i++ {
			n := fmt.Sprintf("%s-approver-%d", s.Name, i)
			g.ids[n] = []string{a.Scope}
			names = append(names, n)
		}
	}
	if e := a.Escalate; e != nil {
		for _, n := range e.Approvers {
			if _, ok := g.ids[n]; !ok {
				g.ids[n] = []string{}
			}
		}
	}
	g.gateIDs[s.Name] = names
	if a.Inputs != nil {
		if v, ok := example(a.Inputs, false).(map[string]any); ok && len(v) > 0 {
			g.inputs[s.Name] = v
		}
	}
}

// approvals are the script steps that approve gate: one per approval its quorum needs.
func (g *starter) approvals(gate string) []starterStep {
	var out []starterStep
	for _, n := range g.gateIDs[gate] {
		out = append(out, starterStep{Approve: gate, As: n, Inputs: g.inputs[gate]})
	}
	return out
}

// runCase runs a case of the starter's file and returns the record of its run.
func (g *starter) runCase(c starterCase) (workflows.State, []string, error) {
	text, err := yaml.Marshal(starterFile{Identities: g.ids, Cases: []starterCase{c}})
	if err != nil {
		return workflows.State{}, nil, err
	}
	f, err := Parse(g.name, text, g.def)
	if err != nil {
		return workflows.State{}, nil, fmt.Errorf("the starter file does not load: %w", err)
	}
	r := &run{f: f, c: &f.Cases[0], used: map[string]int{}}
	st, problems := r.execute()
	return st, problems, nil
}

// explore approves each gate the run stops at until it ends, and returns the gates it
// reached, in order.
func (g *starter) explore(params map[string]any) ([]string, error) {
	var path []string
	for range len(g.gateIDs) + 1 {
		var script []starterStep
		for _, p := range path {
			script = append(script, g.approvals(p)...)
		}
		st, _, err := g.runCase(starterCase{Name: "explore", Params: params, Mocks: g.mocks, Script: script})
		if err != nil {
			return nil, err
		}
		next := ""
		for _, s := range st.Steps {
			if _, ok := g.gateIDs[s.Name]; ok && !slices.Contains(path, s.Name) &&
				s.Status != workflows.StepPending && s.Status != workflows.StepSkipped {
				next = s.Name
				break
			}
		}
		if next == "" {
			break
		}
		path = append(path, next)
	}
	return path, nil
}

// recorded is a case whose expect is what its run did.
func (g *starter) recorded(name string, params map[string]any, script []starterStep) (starterCase, error) {
	c := starterCase{Name: name, Params: params, Mocks: g.mocks, Script: script}
	st, problems, err := g.runCase(c)
	if err != nil {
		return c, err
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("case %q of the starter fails on this build: %s", name, strings.Join(problems, "; "))
	}
	c.Expect.Status = string(st.Status)
	for _, s := range st.Steps {
		if s.Status != workflows.StepPending {
			c.Expect.Steps = append(c.Expect.Steps, map[string]string{s.Name: string(s.Status)})
		}
	}
	return c, nil
}

// mocksOf answers every act of d with a plausible output of its kind.
func mocksOf(d workflows.Definition) map[string][]starterReply {
	out := map[string][]starterReply{}
	answer := func(key string, call *workflows.CallStep, sql *workflows.SQLStep, file *workflows.FileStep, b *workflows.BuiltinStep) {
		var v any
		switch {
		case call != nil, b != nil:
			if b != nil && opActivities[b.Operation] == "" {
				return // runs in the workflow
			}
			v = map[string]any{}
		case sql != nil:
			st := d.Statements[sql.Statement]
			if st.Mode == "read" {
				v = map[string]any{"rows_returned": 1, "row": selectRow(st.Query)}
			} else {
				v = map[string]any{"rows_affected": 1}
			}
		case file != nil && file.Action == "parse":
			v = map[string]any{"path": file.Path, "format": "json", "data": map[string]any{}}
		case file != nil:
			v = map[string]any{"name": file.Name}
		default:
			return
		}
		out[key] = []starterReply{{Output: v}}
	}
	for _, s := range d.Steps {
		answer(s.Name, s.Call, s.SQL, s.File, s.Builtin)
		for _, a := range s.Actions {
			answer(s.Name+"/"+a.Name, a.Call, a.SQL, a.File, a.Builtin)
		}
		if c := s.Compensate; c != nil {
			answer(s.Name+"/undo", c.Call, c.SQL, nil, c.Builtin)
		}
	}
	return out
}

var (
	selectList = regexp.MustCompile(`(?is)^\s*select\s+(?:distinct\s+)?(.*?)\s+from\s`)
	plainName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// selectRow is a row of the columns a SELECT names, each with a plausible value; {} when
// its column list is not a plain one (a *, an expression without AS).
func selectRow(query string) map[string]any {
	row := map[string]any{}
	m := selectList.FindStringSubmatch(query)
	if m == nil {
		return row
	}
	for _, col := range strings.Split(m[1], ",") {
		col = strings.TrimSpace(col)
		if i := strings.LastIndex(strings.ToLower(col), " as "); i >= 0 {
			col = strings.TrimSpace(col[i+4:])
		} else if i := strings.LastIndex(col, "."); i >= 0 {
			col = col[i+1:]
		}
		if !plainName.MatchString(col) {
			return map[string]any{}
		}
		row[col] = columnValue(col)
	}
	return row
}

// columnValue is a plausible value of a column, by its name.
func columnValue(col string) any {
	c := strings.ToLower(col)
	switch {
	case c == "id" || strings.HasSuffix(c, "_id"):
		return 1
	case strings.Contains(c, "email"):
		return "ann@example.com"
	case strings.Contains(c, "cents") || strings.Contains(c, "amount") || strings.Contains(c, "count") ||
		strings.Contains(c, "total") || strings.Contains(c, "number") || strings.Contains(c, "quantity"):
		return 1
	case c == "status":
		return "active"
	case strings.HasSuffix(c, "_at") || strings.Contains(c, "date"):
		return "2025-01-01T00:00:00Z"
	}
	return col
}

// paramVariants are parameter sets to try, the first made of the required fields: then
// one per other enum value, per boolean flipped, per number at its maximum (or large),
// and one with every optional field.
func paramVariants(schema map[string]any) []map[string]any {
	base, _ := example(schema, false).(map[string]any)
	if base == nil {
		base = map[string]any{}
	}
	out := []map[string]any{base}
	props, _ := schema["properties"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(props)) {
		p, _ := props[name].(map[string]any)
		var values []any
		switch p["type"] {
		case "boolean":
			values = []any{true, false}
		case "integer", "number":
			if mx, ok := p["maximum"]; ok {
				values = append(values, mx)
			} else {
				values = append(values, 1000000)
			}
		}
		if enum, ok := p["enum"].([]any); ok {
			values = enum
		}
		for _, v := range values {
			if base[name] == v {
				continue
			}
			next := maps.Clone(base)
			next[name] = v
			out = append(out, next)
		}
	}
	if full, ok := example(schema, true).(map[string]any); ok && !maps.EqualFunc(full, base, func(a, b any) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
		out = append(out, full)
	}
	return out
}

// example is a value that a JSON Schema admits: an object of its required properties
// (all of them when optional is set), the default or first enum value, a string of its
// format or pattern, a number at its minimum.
func example(schema map[string]any, optional bool) any {
	if v, ok := schema["default"]; ok {
		return v
	}
	if enum, ok := schema["enum"].([]any); ok && len(enum) > 0 {
		return enum[0]
	}
	switch schema["type"] {
	case "object":
		out := map[string]any{}
		props, _ := schema["properties"].(map[string]any)
		req := map[string]bool{}
		if r, ok := schema["required"].([]any); ok {
			for _, n := range r {
				req[fmt.Sprint(n)] = true
			}
		}
		for name, p := range props {
			ps, _ := p.(map[string]any)
			if req[name] || optional {
				out[name] = example(ps, optional)
			}
		}
		return out
	case "array":
		items, _ := schema["items"].(map[string]any)
		n := 1
		if m, ok := number(schema["minItems"]); ok && m > 1 {
			n = int(m)
		}
		var out []any
		enum, _ := items["enum"].([]any)
		for i := range n {
			if i < len(enum) {
				out = append(out, enum[i])
			} else {
				out = append(out, example(items, optional))
			}
		}
		return out
	case "integer", "number":
		if m, ok := number(schema["minimum"]); ok {
			return m
		}
		if m, ok := number(schema["maximum"]); ok && m < 1 {
			return m
		}
		return 1
	case "boolean":
		return false
	case "string":
		return exampleString(schema)
	}
	return "example"
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func exampleString(schema map[string]any) string {
	switch schema["format"] {
	case "email":
		return "ann@example.com"
	case "date":
		return "2025-01-01"
	case "date-time":
		return "2025-01-01T00:00:00Z"
	case "uri", "url":
		return "https://example.com/"
	case "uuid":
		return "00000000-0000-4000-8000-000000000000"
	}
	s := "example"
	if p, ok := schema["pattern"].(string); ok {
		if re, err := syntax.Parse(p, syntax.Perl); err == nil {
			var b strings.Builder
			regexExample(&b, re.Simplify())
			if ok, _ := regexp.MatchString(p, b.String()); ok {
				s = b.String()
			}
		}
	}
	if m, ok := number(schema["minLength"]); ok && len(s) < int(m) {
		s += strings.Repeat("x", int(m)-len(s))
	}
	if m, ok := number(schema["maxLength"]); ok && len(s) > int(m) {
		s = s[:int(m)]
	}
	return s
}

// regexExample writes a short text the regular expression re matches: the fewest
// repetitions, the first alternative, a letter or digit of a class where it has one.
func regexExample(b *strings.Builder, re *syntax.Regexp) {
	switch re.Op {
	case syntax.OpLiteral:
		b.WriteString(string(re.Rune))
	case syntax.OpCharClass:
		b.WriteRune(classRune(re.Rune))
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteByte('a')
	case syntax.OpCapture:
		regexExample(b, re.Sub[0])
	case syntax.OpPlus:
		regexExample(b, re.Sub[0])
	case syntax.OpRepeat:
		for range re.Min {
			regexExample(b, re.Sub[0])
		}
	case syntax.OpConcat:
		for _, s := range re.Sub {
			regexExample(b, s)
		}
	case syntax.OpAlternate:
		regexExample(b, re.Sub[0])
	}
}

// classRune picks a rune of a class (pairs of lo, hi): a lowercase letter, a digit or an
// uppercase letter if it holds one, else its first.
func classRune(ranges []rune) rune {
	for _, want := range []rune{'a', '1', 'A'} {
		for i := 0; i+1 < len(ranges); i += 2 {
			if ranges[i] <= want && want <= ranges[i+1] {
				return want
			}
		}
		for i := 0; i+1 < len(ranges); i += 2 {
			lo := ranges[i]
			if (want == 'a' && lo >= 'a' && lo <= 'z') || (want == '1' && lo >= '0' && lo <= '9') || (want == 'A' && lo >= 'A' && lo <= 'Z') {
				return lo
			}
		}
	}
	if len(ranges) == 0 {
		return 'a'
	}
	return ranges[0]
}
