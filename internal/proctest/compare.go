package proctest

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/workflows"
)

// compare says where a run's record differs from what the case expects: one problem per
// part of expect, each a line diff of what was expected (-) against what happened (+).
// An actual line is written as the expected one where they match by the rule of the
// part (a says text contained, a field left out), so only real differences show.
func compare(e Expect, st workflows.State, notices []activities.Notice, calls []call) []string {
	var out []string
	if e.Status != "" && string(st.Status) != e.Status {
		out = append(out, diffText("status", []string{e.Status}, []string{string(st.Status)}))
	}
	if len(e.steps) > 0 {
		var want, got []string
		var reachedSteps []workflows.Step
		for _, s := range st.Steps {
			if s.Status != workflows.StepPending {
				reachedSteps = append(reachedSteps, s)
			}
		}
		for _, s := range e.steps {
			line := s.name + ": " + s.status
			if s.says != "" {
				line += fmt.Sprintf(" (says %q)", s.says)
			}
			want = append(want, line)
		}
		for i, s := range reachedSteps {
			line := s.Name + ": " + string(s.Status)
			if i < len(e.steps) && e.steps[i].says != "" {
				says := e.steps[i].says
				text := strings.TrimSpace(s.Output + " " + s.Error + " " + s.Comment)
				if !strings.Contains(text, says) {
					says = strings.TrimSpace(text)
				}
				line += fmt.Sprintf(" (says %q)", says)
			}
			got = append(got, line)
		}
		if !slices.Equal(want, got) {
			out = append(out, diffText("steps", want, got))
		}
	}
	if len(e.Outputs) > 0 {
		var want, got []string
		for _, name := range slices.Sorted(maps.Keys(e.Outputs)) {
			w := e.Outputs[name]
			want = append(want, name+": "+render(w))
			actual, ok := st.Outputs[name]
			switch {
			case !ok:
				got = append(got, name+": (none)")
			case outputEqual(w, actual):
				got = append(got, name+": "+render(w))
			default:
				got = append(got, name+": "+actual)
			}
		}
		if !slices.Equal(want, got) {
			out = append(out, diffText("outputs", want, got))
		}
	}
	if len(e.Record) > 0 {
		if p := compareRecord(e.Record, st.History); p != "" {
			out = append(out, p)
		}
	}
	if e.Notifications != nil {
		var want, got []string
		for _, n := range e.Notifications {
			want = append(want, noticeLine(n.Event, n.Step))
		}
		for i, n := range notices {
			step := n.Step
			if i < len(e.Notifications) && e.Notifications[i].Step == "" {
				step = ""
			}
			got = append(got, noticeLine(n.Event, step))
		}
		if !slices.Equal(want, got) {
			out = append(out, diffText("notifications", want, got))
		}
	}
	if e.Calls != nil {
		var want, got []string
		for _, c := range e.Calls {
			want = append(want, callLine(c.Step, c.Call, c.body, c.Body.Kind != 0))
		}
		for i, c := range calls {
			what, withBody := c.what, true
			if i < len(e.Calls) {
				if e.Calls[i].Call == "" {
					what = ""
				}
				withBody = e.Calls[i].Body.Kind != 0
			}
			got = append(got, callLine(c.key, what, jsonValue(c.body), withBody))
		}
		if !slices.Equal(want, got) {
			out = append(out, diffText("calls", want, got))
		}
	}
	return out
}

func noticeLine(event, step string) string {
	if step == "" {
		return event
	}
	return event + " at " + step
}

func callLine(step, what string, body any, withBody bool) string {
	line := step
	if what != "" {
		line += ": " + what
	}
	if withBody {
		line += " " + render(body)
	}
	return line
}

// render writes a value as compact JSON (a text as itself).
func render(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(raw)
}

// outputEqual tells whether an expected output is the recorded one: a text equal to it,
// or a value equal to the JSON it holds.
func outputEqual(want any, actual string) bool {
	if s, ok := want.(string); ok && s == actual {
		return true
	}
	var v any
	if err := json.Unmarshal([]byte(actual), &v); err != nil {
		return false
	}
	return reflect.DeepEqual(jsonValue(want), v)
}

// compareRecord checks that the expected entries are in the record, in order, among
// others; it names the first that is not, and lists the record.
func compareRecord(want []RecordEntry, history []workflows.Event) string {
	at := 0
	for i, w := range want {
		found := false
		for at < len(history) {
			h := history[at]
			at++
			if (w.Event == "" || w.Event == h.Event) && (w.Step == "" || w.Step == h.Step) &&
				(w.Actor == "" || w.Actor == h.Actor) && strings.Contains(h.Detail, w.Says) {
				found = true
				break
			}
		}
		if !found {
			var b strings.Builder
			fmt.Fprintf(&b, "record: entry %d (%s) is not in the record after the entries before it; the record:", i+1, recordLine(w.Event, w.Step, w.Actor, w.Says))
			for _, h := range history {
				b.WriteString("\n    " + recordLine(h.Event, h.Step, h.Actor, h.Detail))
			}
			return b.String()
		}
	}
	return ""
}

func recordLine(event, step, actor, detail string) string {
	line := event
	if step != "" {
		line += " at " + step
	}
	if actor != "" {
		line += " by " + actor
	}
	if detail != "" {
		line += ": " + detail
	}
	return line
}

// diffText is a titled line diff: "  " for a line in both, "- " expected only, "+ "
// actual only.
func diffText(title string, want, got []string) string {
	var b strings.Builder
	b.WriteString(title + ": (- expected, + actual)")
	for _, l := range diffLines(want, got) {
		b.WriteString("\n    " + l)
	}
	return b.String()
}

// diffLines is the shortest edit script from a to b, by longest common subsequence.
func diffLines(a, b []string) []string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			out = append(out, "  "+a[i])
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "- "+a[i])
			i++
		default:
			out = append(out, "+ "+b[j])
			j++
		}
	}
	return out
}
