package workflows

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func celData() (map[string]any, map[string]any) {
	params := map[string]any{
		"m":    map[string]any{"b": int64(2), "a": int64(1), "c": int64(3)},
		"list": []any{map[string]any{"x": int64(1)}, map[string]any{"x": int64(2), "y": "z"}},
		"name": "ann",
	}
	steps := map[string]any{"s": map[string]any{"status": "completed", "output": map[string]any{"rows": []any{map[string]any{"id": int64(7)}}}}}
	return params, steps
}

// TestOrderedObjectsEvaluateAsObjects: under the limit, objects are orderedMaps; every
// expression that does not depend on the order of keys has the value it had.
func TestOrderedObjectsEvaluateAsObjects(t *testing.T) {
	params, steps := celData()
	for _, expr := range []string{
		`params.m == {"c": 3, "b": 2, "a": 1}`, `{"a": 1, "b": 2, "c": 3} == params.m`, `has(params.m.a)`, `has(params.m.q)`,
		`"a" in params.m`, `params.m.size()`, `params.m["b"]`, `params.m.b`, `params.m`, `params.list`, `params.list[1].y`,
		`params.list.exists(i, i.x == 2)`, `params.list.map(i, i.x)`, `steps.s.output.rows[0].id`, `steps.s.status == "completed"`,
		`run.requested_by`, `type(params.m) == map`, `params.m.all(k, params.m[k] > 0)`, `params.m.exists_one(k, k == "b")`,
		`params.m.filter(k, k != "b").size()`, `has(steps.s.output) ? size(steps.s.output.rows) : 0`, `params.name.upperAscii()`,
		`params.m.c + params.list[0].x`, `steps.s.output.rows.map(r, r.id)`, `string(params.m.a)`,
	} {
		want, werr := evalCEL(expr, false, params, steps, "id-1", "alice")
		got, gerr := evalCEL(expr, true, params, steps, "id-1", "alice")
		if !reflect.DeepEqual(got, want) || fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Errorf("%s: under the limit %#v (%v), without %#v (%v)", expr, got, gerr, want, werr)
		}
	}
}

func TestObjectsIterateInSortedOrder(t *testing.T) {
	params, steps := celData()
	for range 20 {
		got, err := evalCEL(`params.m.map(k, k).join(",") + ";" + steps.map(s, s).join(",") + ";" + run.map(k, k).join(",")`, true, params, steps, "id-1", "alice")
		if err != nil || got != "a,b,c;s;id,requested_by" {
			t.Fatalf("got %v (%v)", got, err)
		}
	}
}

// TestTheCostLimitStopsAtTheSamePlaceEveryTime: each key costs some 3 000 units, so an
// exists over 1 000 keys stops at the limit unless it finds its key among the first 300
// or so. In Go's map order it does one time in three; in sorted order "a" comes first,
// every time.
func TestTheCostLimitStopsAtTheSamePlaceEveryTime(t *testing.T) {
	keys := map[string]any{"a": true}
	for i := 1; i < 1000; i++ {
		keys[fmt.Sprintf("k%04d", i)] = true
	}
	list := make([]any, 1000)
	for i := range list {
		list[i] = int64(i)
	}
	params := map[string]any{"m": keys, "list": list}
	const expr = `params.m.exists(k, params.list.all(x, x >= 0) && k == "a")`
	for range 10 {
		if got, err := evalCEL(expr, true, params, map[string]any{}, "id", "alice"); got != true || err != nil {
			t.Fatalf("got %v, %v; want true every time", got, err)
		}
	}
	// Without the key, it stops at the limit, every time.
	delete(keys, "a")
	if _, err := evalCEL(expr, true, params, map[string]any{}, "id", "alice"); !errors.Is(err, errCostLimit) {
		t.Fatalf("err = %v, want the cost limit", err)
	}
}

// TestChargesCoverWhatCelGoLeavesOut: work cel-go charges 1 for, on dyn values, is charged
// by its size, so each of these stops at the limit instead of running for seconds.
func TestChargesCoverWhatCelGoLeavesOut(t *testing.T) {
	long := strings.Repeat("abcdefghij", 10000) // 100 kB
	items := make([]any, 200)
	words := make([]any, 2000)
	for i := range items {
		items[i] = int64(i)
	}
	for i := range words {
		words[i] = fmt.Sprint("w", i)
	}
	deep := make([]any, 1000)
	for i := range deep {
		deep[i] = map[string]any{"a": map[string]any{"b": []any{"x", int64(i)}}}
	}
	params := map[string]any{"s": long, "items": items, "words": words, "deep": deep}
	for expr, want := range map[string]error{
		`params.items.all(i, params.s + params.s != "")`:     errCostLimit, // concatenation copies
		`params.items.all(i, params.s.size() > 0)`:           errCostLimit, // a string's size counts its code points
		`params.words.all(w, w in params.words)`:             errCostLimit, // in scans the list
		`params.items.all(i, params.deep == params.deep)`:    errCostLimit, // equality reads both to their depth
		`params.items.map(i, params.deep)`:                   errValueLimit,
		`params.items.all(i, params.s.size() > 0) || true`:   errCostLimit,
		`params.items.exists(i, i == 3) && params.s != ""`:   nil,
		`params.words.exists(w, w == "w1999")`:               nil,
		`params.deep.exists(d, d == {"a": {"b": ["x", 7]}})`: nil,
	} {
		if _, err := evalCEL(expr, true, params, map[string]any{}, "id", "alice"); !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", expr, err, want)
		}
	}
	// Sizing a long string for a charge reads its length, not its code points: 20 000
	// comparisons with a 1 MB string took 17 s when each counted them.
	many := make([]any, 20000)
	for i := range many {
		many[i] = "abcdefghij"
	}
	start := time.Now()
	if _, err := evalCEL(`params.many.exists(x, x == params.s)`, true, map[string]any{"many": many, "s": strings.Repeat(long, 10)}, map[string]any{}, "id", "alice"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s", took)
	}
}
