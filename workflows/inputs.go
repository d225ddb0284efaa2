package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/flowgate/flowgate/internal/words"
)

// Decision inputs are what an approver says besides yes: the amount approved, the change
// ticket a deployment goes out under. A gate declares them as a JSON Schema object of
// primitive fields (the form MCP's elicitation, the approval page and the inbox can ask
// for), with CEL rules over inputs and params; an approve must carry inputs that pass
// both, and later steps read them as steps.GATE.output.inputs.FIELD.

// InputRule is a CEL condition over inputs and params that a decision's inputs must
// meet, and what to tell the approver when they do not.
type InputRule struct {
	Rule    string `yaml:"rule" json:"rule"`
	Message string `yaml:"message" json:"message"`
}

// inputTypes are the JSON Schema types a gate's input may have: the primitives a form and
// MCP's restricted elicitation schema can ask for.
var inputTypes = []string{"string", "number", "integer", "boolean"}

// inputKeywords are the keywords an input's schema may use.
var inputKeywords = []string{"type", "title", "description", "enum", "default", "minimum", "maximum", "minLength", "maxLength", "pattern", "format"}

// inputFormats are the string formats an input may declare.
var inputFormats = []string{"date", "date-time", "email", "uri"}

// inputsPlan is a gate's compiled inputs: the schema, and the rules.
type inputsPlan struct {
	schema *ParamSchema
	// doc is the schema as declared (JSON values), which Waiting shows clients.
	doc   map[string]any
	rules []InputRule
}

// compileInputs compiles the inputs of gate a; nil when it declares none.
func compileInputs(a ApprovalStep) (*inputsPlan, error) {
	if a.Inputs == nil {
		return nil, nil
	}
	doc, _ := jsonValue(a.Inputs).(map[string]any)
	closed := maps.Clone(doc)
	closed["additionalProperties"] = false
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.AssertFormat()
	if err := comp.AddResource("inputs.json", closed); err != nil {
		return nil, err
	}
	s, err := comp.Compile("inputs.json")
	if err != nil {
		return nil, err
	}
	props, _ := doc["properties"].(map[string]any)
	for _, r := range a.Rules {
		if _, err := ruleProgram(r.Rule); err != nil {
			return nil, fmt.Errorf("rule %q: %w", r.Rule, err)
		}
	}
	return &inputsPlan{schema: &ParamSchema{schema: s, props: props, root: "inputs"}, doc: doc, rules: a.Rules}, nil
}

// check refuses inputs that fail the schema or a rule, naming the field or the rule.
// params are the run's parameters, which rules may compare with.
func (p *inputsPlan) check(step string, inputs map[string]any, params map[string]any) error {
	v := jsonValue(inputs)
	if inputs == nil {
		v = map[string]any{}
	}
	if err := p.schema.validate(v); err != nil {
		return fmt.Errorf("the inputs of step %s: %w", step, err)
	}
	in, err := normalInputs(inputs)
	if err != nil {
		return err
	}
	for _, r := range p.rules {
		ok, err := evalRule(r.Rule, in, params)
		if err != nil {
			return fmt.Errorf("the inputs of step %s cannot be checked against the rule %q: %v", step, r.Rule, err)
		}
		if !ok {
			return fmt.Errorf("the inputs of step %s break a rule: %s (rule: %s)", step, r.Message, r.Rule)
		}
	}
	return nil
}

// normalInputs are inputs as the run holds values: whole numbers as integers.
func normalInputs(inputs map[string]any) (map[string]any, error) {
	raw, err := json.Marshal(inputs)
	if err != nil {
		return nil, err
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// describe says what the gate asks for, in words: "approved_cents (integer, at most …)".
func (p *inputsPlan) describe() string {
	required, _ := p.doc["required"].([]any)
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(p.schema.props)) {
		prop, _ := p.schema.props[name].(map[string]any)
		opt := ""
		if !slices.Contains(required, any(name)) {
			opt = ", optional"
		}
		parts = append(parts, fmt.Sprintf("%s (%s%s)", name, describeProperty(prop), opt))
	}
	return strings.Join(parts, "; ")
}

var (
	ruleEnvOnce sync.Once
	ruleEnvVal  *cel.Env
	rulePrgs    pureCache[string, cel.Program]
)

// ruleEnv is the CEL environment of input rules: inputs and params.
func ruleEnv() *cel.Env {
	ruleEnvOnce.Do(func() {
		env, err := cel.NewEnv(
			cel.Variable("inputs", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("params", cel.MapType(cel.StringType, cel.DynType)),
			cel.CrossTypeNumericComparisons(true),
			ext.Strings(),
			cel.CostModelVersion(costModelVersion),
		)
		if err != nil {
			panic("workflows: CEL environment of rules: " + err.Error()) // fixed declarations; cannot fail
		}
		ruleEnvVal = env
	})
	return ruleEnvVal
}

// ruleProgram compiles a rule, which must be boolean.
func ruleProgram(expr string) (cel.Program, error) {
	if p, ok := rulePrgs.get(expr); ok {
		return p, nil
	}
	ast, issues := ruleEnv().Compile(expr)
	if issues != nil && issues.Err() != nil {
		return nil, errors.New(strings.ReplaceAll(issues.Err().Error(), "\n", " "))
	}
	if !ast.OutputType().IsExactType(cel.BoolType) && !ast.OutputType().IsExactType(cel.DynType) {
		return nil, fmt.Errorf("it is of type %s, not a boolean", ast.OutputType())
	}
	p, err := ruleEnv().Program(ast, limitOptions()...)
	if err != nil {
		return nil, err
	}
	rulePrgs.put(expr, p)
	return p, nil
}

// evalRule evaluates a rule under ConditionCostLimit.
func evalRule(expr string, inputs, params map[string]any) (bool, error) {
	p, err := ruleProgram(expr)
	if err != nil {
		return false, err
	}
	a := newOrderingAdapter()
	out, _, err := p.Eval(map[string]any{"inputs": a.NativeToValue(inputs), "params": a.NativeToValue(params)})
	if err != nil {
		return false, costLimited(err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("it is %v, not true or false", out.Value())
	}
	return b, nil
}

// checkInputs checks a gate's declared inputs and rules at load.
func (c *checker) checkInputs(path []any, a ApprovalStep) {
	if a.Inputs == nil {
		if len(a.Rules) > 0 {
			c.at(append(path, "rules"), "rules check inputs, and this gate declares none; allowed: inputs: {type: object, properties: …} with them")
		}
		return
	}
	ipath := append(slices.Clone(path), "inputs")
	if a.Inputs["type"] != "object" {
		c.at(ipath, "inputs has type %v; allowed: a JSON Schema of type object", a.Inputs["type"])
	}
	for k := range a.Inputs {
		if !slices.Contains([]string{"type", "properties", "required", "title", "description"}, k) {
			c.at(append(slices.Clone(ipath), k), "inputs may not use %q; allowed: type, properties, required, title, description", k)
		}
	}
	props, _ := jsonValue(a.Inputs["properties"]).(map[string]any)
	if len(props) == 0 {
		c.at(ipath, "inputs has no properties; allowed: one or more fields, each of type %s", words.Or(inputTypes))
	}
	for _, name := range slices.Sorted(maps.Keys(props)) {
		fpath := append(slices.Clone(ipath), "properties", name)
		if !definitionName.MatchString(name) {
			c.at(fpath, "input %q; allowed: lowercase letters, digits and '_', starting with a letter", name)
		}
		prop, ok := props[name].(map[string]any)
		if !ok {
			c.at(fpath, "input %s is not a schema; allowed: {type: %s, …}", name, strings.Join(inputTypes, "|"))
			continue
		}
		if t, _ := prop["type"].(string); !slices.Contains(inputTypes, t) {
			c.at(append(slices.Clone(fpath), "type"), "input %s has type %v; allowed: %s (a form field)", name, prop["type"], words.Or(inputTypes))
		}
		for k := range prop {
			if !slices.Contains(inputKeywords, k) {
				c.at(append(slices.Clone(fpath), k), "input %s may not use %q; allowed: %s", name, k, strings.Join(inputKeywords, ", "))
			}
		}
		if f, ok := prop["format"].(string); ok && !slices.Contains(inputFormats, f) {
			c.at(append(slices.Clone(fpath), "format"), "input %s has format %q; allowed: %s", name, f, words.Or(inputFormats))
		}
	}
	if req, ok := jsonValue(a.Inputs["required"]).([]any); ok {
		for i, r := range req {
			if name, _ := r.(string); props[name] == nil {
				c.at(append(slices.Clone(ipath), "required", i), "required input %v is not among the properties; allowed: %s", r, strings.Join(slices.Sorted(maps.Keys(props)), ", "))
			}
		}
	}
	if _, err := compileInputs(ApprovalStep{Inputs: a.Inputs}); err != nil {
		c.at(ipath, "inputs is not a valid JSON Schema (2020-12): %s", words.FirstLine(err.Error()))
	}
	for i, r := range a.Rules {
		rpath := append(slices.Clone(path), "rules", i)
		if strings.TrimSpace(r.Message) == "" {
			c.at(append(slices.Clone(rpath), "message"), "rule %d has no message; allowed: a sentence telling the approver what to change", i)
		}
		if _, err := ruleProgram(r.Rule); err != nil {
			c.at(append(slices.Clone(rpath), "rule"), "rule %q does not compile: %v; allowed: a boolean CEL expression over inputs and params", r.Rule, err)
		}
	}
}
