package workflows

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	celinterp "cel.dev/cel-go/interpreter"
)

// ConditionCostLimit bounds the work of one CEL expression of a definition (a step's
// when, or an expression in a template), in cel-go's cost units: about one unit per
// operation, a comparison or a loop iteration (a string operation counts a tenth of a
// unit per character, a comparison of lists or objects one per element inside them). A
// million units take 0.05–0.1 s on one core over lists of numbers, up to some 0.3 s over
// nested objects: below the second after which Temporal's worker gives up on a workflow
// task it thinks is stuck.
//
// It is checked twice. At load, each expression's worst-case cost is estimated with every
// list, string and object of the parameters at its schema's maxItems, maxLength or
// maxProperties (DefaultSizeHint where the schema declares none, and for step outputs),
// and a definition with an expression over the limit is refused. At run time, evaluation
// stops at the limit: a when that reaches it fails the run, a template the step it fills.
// There is no knob: an expression that needs more work than this over its data belongs in
// a step (a statement or a service), not in a condition.
const ConditionCostLimit uint64 = 1_000_000

// DefaultSizeHint is the size the load-time estimate takes for a list, string or object
// whose size the parameter schema does not bound (maxItems, maxLength, maxProperties, an
// enum), and for every step output and run field.
const DefaultSizeHint uint64 = 1000

// costModelVersion pins cel-go's rules for pricing operations, for the estimate and for
// the run-time charge alike, so a newer cel-go cannot move an expression across the limit
// and change what a run replays.
const costModelVersion = 1

// limitOptions are the program options of an expression evaluated under the limit: the
// limit, the charges cel-go leaves out (unpricedCalls), and strings sized in bytes
// (byteSizes). The estimate keeps cel-go's own sizing.
func limitOptions() []cel.ProgramOption {
	return []cel.ProgramOption{
		cel.CostLimit(ConditionCostLimit),
		cel.CostTracking(unpricedCalls{}),
		cel.CostTrackerOptions(cost.WithSizingStrategy(byteSizes{cost.DefaultSizingStrategy()})),
	}
}

// byteSizes is cel-go's sizing, but a string's size at run time is its length in bytes:
// cel-go counts its code points, which allocates and reads the whole string each time a
// comparison or a call on it is charged, so over a long string the counting cost more
// than the work it priced (a minute for 100 000 comparisons with a 1 MB string). Bytes
// are never fewer than code points, so the charge only grows.
type byteSizes struct{ cost.SizingStrategy }

// TrackSize is the size of a value at run time: O(1) for a string.
func (s byteSizes) TrackSize(ctx cost.TrackContext, v ref.Val) (uint64, bool) {
	if str, ok := v.(types.String); ok {
		return uint64(len(str)), true
	}
	return s.SizingStrategy.TrackSize(ctx, v)
}

// standardTrackers are the calls cel-go prices itself.
var standardTrackers = cost.StandardOverloadTrackersWithOptions(cost.ModelVersion(costModelVersion))

// unpricedCalls charges the calls cel-go charges less than their work at run time:
//
//   - A comparison (==, !=) of lists or objects reads both to their depth: it costs one
//     per element, entry and tenth of a string byte inside each (deepSize). cel-go charges
//     by the top level only.
//   - x in list compares x with each element: per element, twice the depth of x.
//   - A call dispatched on its operands' runtime types (params and steps are dyn, so
//     params.s + params.t or params.s.size() have no overload until they run), and the few
//     calls cel-go assumes cheap, costs 1 plus a tenth per byte of the strings and bytes
//     it takes or makes: a concatenation copies them, a string's size counts its code
//     points.
//
// The load-time estimate prices these calls by cel-go's model, so over values within the
// schema's bounds a run may still be charged more than the estimate for deep comparisons.
// The charges are approximations of work, counted the same on every execution; not
// timings.
type unpricedCalls struct{}

// CallCost is the charge of one call, or nil for cel-go's own.
func (unpricedCalls) CallCost(function, overloadID string, args []ref.Val, result ref.Val) *uint64 {
	var charge uint64
	switch {
	case (function == operators.Equals || function == operators.NotEquals) && len(args) == 2 && (isContainer(args[0]) || isContainer(args[1])):
		// cel-go compares sizes first; a list or object of another size costs nothing more.
		charge = 1
		if sizeOf(args[0]) == sizeOf(args[1]) {
			charge += deepSize(args[0], ConditionCostLimit) + deepSize(args[1], ConditionCostLimit)
		}
	case function == operators.In && len(args) == 2 && isList(args[1]):
		charge = cost.SafeAdd(1, cost.SafeMultiply(sizeOf(args[1]), 2*deepSize(args[0], ConditionCostLimit)))
	default:
		if _, ok := standardTrackers[overloadID]; ok {
			return nil
		}
		charge = 1 + (textSize(result)+textSizes(args))/10
	}
	return &charge
}

func isContainer(v ref.Val) bool {
	switch v.(type) {
	case traits.Lister, traits.Mapper:
		return true
	}
	return false
}

func isList(v ref.Val) bool {
	_, ok := v.(traits.Lister)
	return ok
}

// sizeOf is the top-level size of a list or an object, the byte length of a string or
// bytes, and 1 for anything else.
func sizeOf(v ref.Val) uint64 {
	switch x := v.(type) {
	case types.String:
		return uint64(len(x))
	case types.Bytes:
		return uint64(len(x))
	case traits.Sizer:
		if n, ok := x.Size().(types.Int); ok && n >= 0 {
			return uint64(n)
		}
	}
	return 1
}

func textSize(v ref.Val) uint64 {
	switch v.(type) {
	case types.String, types.Bytes:
		return sizeOf(v)
	}
	return 0
}

func textSizes(vs []ref.Val) uint64 {
	var n uint64
	for _, v := range vs {
		n += textSize(v)
	}
	return n
}

// deepSize is what reading v to its depth costs: one per element of a list and per entry
// of an object, at any depth, and a tenth per byte of its strings, 1 at least. It counts
// up to limit only (the count is then limit, whatever the order it went in), so counting
// costs no more than the charge it makes; it reads the run's own data as Go values,
// without converting them.
func deepSize(v ref.Val, limit uint64) uint64 {
	c := counter{n: 1, limit: limit}
	c.val(v)
	return min(c.n, limit)
}

type counter struct{ n, limit uint64 }

func (c *counter) val(v ref.Val) {
	if c.n >= c.limit {
		return
	}
	switch x := v.(type) {
	case orderedMap:
		c.raw(x.raw)
	case types.String, types.Bytes:
		c.n += sizeOf(x) / 10
	case traits.Lister:
		if raw, ok := x.Value().([]any); ok {
			c.raw(raw)
			return
		}
		size := sizeOf(x)
		for i := uint64(0); i < size && c.n < c.limit; i++ {
			c.n++
			c.val(x.Get(types.Int(i)))
		}
	case traits.Mapper:
		for it := x.Iterator(); it.HasNext() == types.True && c.n < c.limit; {
			k := it.Next()
			c.n++
			c.val(x.Get(k))
		}
	}
}

func (c *counter) raw(v any) {
	if c.n >= c.limit {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			c.n++
			c.raw(e)
		}
	case []any:
		for _, e := range x {
			c.n++
			c.raw(e)
		}
	case []string:
		for _, e := range x {
			c.n += 1 + uint64(len(e))/10
		}
	case string:
		c.n += uint64(len(x)) / 10
	case ref.Val:
		c.val(x)
	}
}

// sizeHints sizes the variables of a condition for the load-time cost estimate: a path
// under params from the parameter schema, anything else DefaultSizeHint.
type sizeHints struct {
	// schema is the parameter schema, as a JSON decoder would give it (jsonValue).
	schema map[string]any
}

// EstimateSize bounds the size of a node that names a variable or a part of one.
func (h sizeHints) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	path := n.Path()
	if len(path) == 0 {
		return nil // a computed value: cel-go sizes it from its operands
	}
	size := DefaultSizeHint
	if path[0] == "params" && len(path) > 1 {
		size = schemaBound(schemaAt(h.schema, path[1:]))
	}
	est := cost.RangedSizeEstimate(0, size)
	return &est
}

// EstimateCallCost leaves every function to cel-go's own cost model.
func (sizeHints) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// schemaAt is the schema of the value at path under the object schema s: a property name,
// or @items (an array's items), @values (additionalProperties) or @keys (propertyNames).
// It is nil where the schema does not say.
func schemaAt(s map[string]any, path []string) map[string]any {
	for _, p := range path {
		if s == nil {
			return nil
		}
		var next any
		switch p {
		case "@items":
			next = s["items"]
		case "@values":
			next = s["additionalProperties"]
		case "@keys":
			next = s["propertyNames"]
		default:
			props, _ := s["properties"].(map[string]any)
			next = props[p]
		}
		s, _ = next.(map[string]any)
	}
	return s
}

// schemaBound is the largest size a value of schema s can have: its maxItems, maxLength or
// maxProperties by its type, its longest enum or const value, 1 for a scalar type, or
// DefaultSizeHint when the schema does not bound it.
func schemaBound(s map[string]any) uint64 {
	if s == nil {
		return DefaultSizeHint
	}
	if values, ok := s["enum"].([]any); ok && len(values) > 0 {
		return longest(values)
	}
	if v, ok := s["const"]; ok {
		return longest([]any{v})
	}
	var keyword string
	switch t, _ := s["type"].(string); t { // a list of types is not bounded by one keyword
	case "integer", "number", "boolean", "null":
		return 1
	case "array":
		keyword = "maxItems"
	case "string":
		keyword = "maxLength"
	case "object":
		keyword = "maxProperties"
	}
	if n, ok := s[keyword].(float64); ok && n >= 0 {
		return uint64(n)
	}
	return DefaultSizeHint
}

// longest is the largest size among enum values: a string's length, a list's items.
func longest(values []any) uint64 {
	var out uint64 = 1
	for _, v := range values {
		switch x := v.(type) {
		case string:
			out = max(out, uint64(len([]rune(x))))
		case []any:
			out = max(out, uint64(len(x)))
		case map[string]any:
			out = max(out, uint64(len(x)))
		}
	}
	return out
}

// estimateCost is the worst-case cost of a checked expression over the parameters of
// schema (the definition's, as jsonValue gives it).
func estimateCost(env *cel.Env, ast *cel.Ast, schema map[string]any) (cost.Estimate, error) {
	return env.EstimateCost(ast, sizeHints{schema: schema})
}

// costProblem says why an expression is refused at load, or "" when its estimate is within
// ConditionCostLimit. what names it: `condition "…"` or `template {{…}}`.
func costProblem(env *cel.Env, ast *cel.Ast, schema map[string]any, what string) string {
	est, err := estimateCost(env, ast, schema)
	if err != nil {
		return fmt.Sprintf("%s: its cost cannot be estimated (%v); allowed: an expression whose cost is at most %d", what, err, ConditionCostLimit)
	}
	if est.Max <= ConditionCostLimit {
		return ""
	}
	worst := fmt.Sprint(est.Max)
	if est.Max == cost.UnknownCostEstimate().Max {
		worst = "an unbounded amount"
	}
	return fmt.Sprintf("%s may cost %s, over the cost limit of %d (lists and strings counted at their schema's maxItems and maxLength, %d where none is declared); allowed: a cheaper expression (no loop inside a loop over a list), or maxItems/maxLength on the parameters it goes through", what, worst, ConditionCostLimit, DefaultSizeHint)
}

// errCostLimit is what evaluating an expression that reaches ConditionCostLimit returns.
var errCostLimit = fmt.Errorf("stopped at the cost limit of %d: the expression does more work over this run's data than a condition may (a loop inside a loop over a long list, for instance); nothing it would have decided was applied", ConditionCostLimit)

// errValueLimit is what evaluating an expression whose value is too large to write out
// returns: one per element and entry, at any depth, and a tenth per byte of its strings,
// counted against ConditionCostLimit.
var errValueLimit = fmt.Errorf("stopped at the cost limit of %d: the expression's value is too large to write out (a list that repeats a long list or string, for instance)", ConditionCostLimit)

// costLimited turns cel-go's cancellation at the cost limit into errCostLimit.
func costLimited(err error) error {
	var cancelled celinterp.EvalCancelledError
	if errors.As(err, &cancelled) && cancelled.Cause == celinterp.CostLimitExceeded {
		return errCostLimit
	}
	return err
}

// orderedMap is a JSON object as CEL sees it on runs under the cost limit, whose keys a
// comprehension (all, exists, map, filter) visits in sorted order. cel-go visits a Go
// map's keys in Go's random order; the result of all or exists does not depend on it, but
// the work done before they stop early does, so without an order one execution of a run
// could stop at the limit and its replay not. (The order also makes params.m.map(k, k)
// one list, not a different one at each evaluation.)
type orderedMap struct {
	traits.Mapper
	raw map[string]any
	a   *orderingAdapter
}

// Iterator visits the keys in sorted order. A Mapper that is not Foldable is folded by
// its Iterator.
func (m orderedMap) Iterator() traits.Iterator {
	id := reflect.ValueOf(m.raw).Pointer() // the map is alive while the evaluation is
	keys, ok := m.a.sorted[id]
	if !ok {
		names := slices.Sorted(maps.Keys(m.raw))
		keys = types.NewStringList(types.DefaultTypeAdapter, names)
		m.a.sorted[id] = keys
	}
	return keys.Iterator()
}

// orderingAdapter turns the objects of one evaluation into orderedMaps as CEL reaches
// them, and sorts the keys of each at most once per evaluation: the sorting is work the
// cost limit does not count, so it must not be repeated for every iteration of an outer
// loop.
type orderingAdapter struct {
	sorted map[uintptr]traits.Lister
}

func newOrderingAdapter() *orderingAdapter {
	return &orderingAdapter{sorted: map[uintptr]traits.Lister{}}
}

// NativeToValue is cel-go's conversion, but for objects and the lists that may hold them.
func (a *orderingAdapter) NativeToValue(v any) ref.Val {
	switch x := v.(type) {
	case map[string]any:
		return orderedMap{Mapper: types.NewStringInterfaceMap(a, x), raw: x, a: a}
	case []any:
		return types.NewDynamicList(a, x)
	}
	return types.DefaultTypeAdapter.NativeToValue(v)
}
