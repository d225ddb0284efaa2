package workflows

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// WaitStep holds a run on a durable timer, for a while (For) or until a time (Until), or
// until an event reaches the step (Event): exactly one of the three. A waiting run costs
// no worker memory and adds no history, and its timer outlives a worker's restart.
type WaitStep struct {
	// For is how long: a Go duration or whole days ("72h", "30m", "7d", "1d12h"), or a
	// template rendering one ("{{params.days}}d").
	For string `yaml:"for,omitempty" json:"for,omitempty"`
	// Until is a time in RFC 3339, or a template rendering one; a time already past
	// completes the step at once.
	Until string `yaml:"until,omitempty" json:"until,omitempty"`
	// Event names the event the run waits for (event.go): delivered to this run and step
	// by send_event or through the step's callback URL.
	Event string `yaml:"event,omitempty" json:"event,omitempty"`
	// Schema is the JSON Schema (an object) the event's payload must match; none takes
	// any JSON object.
	Schema map[string]any `yaml:"schema,omitempty" json:"schema,omitempty"`
	// Deadline is how long the event is waited for (default: the run's approval timeout),
	// and OnTimeout what happens then: fail (default), continue or compensate.
	Deadline  string `yaml:"deadline,omitempty" json:"deadline,omitempty"`
	OnTimeout string `yaml:"on_timeout,omitempty" json:"on_timeout,omitempty"`
	// Scope is the scope send_event needs of its caller (default write:data).
	Scope string `yaml:"scope,omitempty" json:"scope,omitempty"`
}

// StatusWaiting is the status of a run held at a wait step: nobody is asked anything, and
// the run goes on by itself at the time its status view says (waiting.deadline).
const StatusWaiting Status = "waiting"

// StepWait is the kind of a wait step in the record.
const StepWait StepKind = "wait"

// waitFor is what a waiting run's status view says: the wait is a timer.
const waitFor = "timer"

// maxWait bounds a wait, as every duration of a definition is bounded.
const maxWait = 365 * 24 * time.Hour

// waitPlan is a wait step's duration, parsed once when For is a literal; on an event
// wait, its event's (eventPlan).
type waitPlan struct {
	fixed   time.Duration
	literal bool
	event   *eventPlan
}

// timerWait is the wait a run is held at: the step and when it wakes.
type timerWait struct {
	step  string
	until time.Time
}

var daysPrefix = regexp.MustCompile(`^(\d{1,3})d(.*)$`)

// parseWait parses a wait's duration: a Go duration, optionally after whole days ("7d",
// "1d12h"), from 0 to 365 days.
func parseWait(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if m := daysPrefix.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		d, s = time.Duration(n)*24*time.Hour, m[2]
		if s == "" {
			s = "0s"
		}
	}
	rest, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	d += rest
	if d < 0 || d > maxWait {
		return 0, fmt.Errorf("%s is not from 0s to 365d", d)
	}
	return d, nil
}

// waitAllowed says what a wait's fields take, for the checker's errors.
const waitAllowed = `for: a Go duration or whole days such as 72h, 30m or 7d (or a template rendering one, such as "{{params.days}}d"); until: an RFC 3339 time such as 2026-05-01T09:00:00Z (or a template rendering one)`

// checkWait checks a wait step: exactly one of for, until and event, and a literal that
// parses.
func (c *checker) checkWait(path []any, w WaitStep, refs refChecker) {
	var forms []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"for", w.For != ""}, {"until", w.Until != ""}, {"event", w.Event != ""}} {
		if f.set {
			forms = append(forms, f.name)
		}
	}
	switch {
	case len(forms) == 0:
		c.at(path, "wait needs for, until or event; allowed: %s; event: %s", waitAllowed, eventAllowed)
	case len(forms) > 1:
		c.at(path, "wait has %s; allowed: one of for, until and event", strings.Join(forms, " and "))
	case w.Event != "":
		c.checkEventWait(path, w)
	case w.For != "" && template.MatchString(w.For):
		refs.templates(append(path, "for"), w.For)
	case w.For != "":
		if d, err := parseWait(w.For); err != nil || d < time.Second {
			c.at(append(path, "for"), "for %q is not a duration from 1s to 365d; allowed: %s", w.For, waitAllowed)
		}
	case template.MatchString(w.Until):
		refs.templates(append(path, "until"), w.Until)
	default:
		if _, err := time.Parse(time.RFC3339, strings.TrimSpace(w.Until)); err != nil {
			c.at(append(path, "until"), "until %q is not an RFC 3339 time; allowed: %s", w.Until, waitAllowed)
		}
	}
	if w.Event == "" {
		for _, f := range []struct {
			name string
			set  bool
		}{{"schema", w.Schema != nil}, {"deadline", w.Deadline != ""}, {"on_timeout", w.OnTimeout != ""}, {"scope", w.Scope != ""}} {
			if f.set {
				c.at(append(path, f.name), "%s goes with event; allowed: a wait for an event (event: NAME) with it, or a timer without it", f.name)
			}
		}
	}
}

// compileWait parses a wait's literal duration for the plan.
func compileWait(w WaitStep) (*waitPlan, error) {
	if w.Event != "" {
		ep, err := compileEvent(w)
		if err != nil {
			return nil, err
		}
		return &waitPlan{event: ep}, nil
	}
	if w.For == "" || template.MatchString(w.For) {
		return &waitPlan{}, nil
	}
	d, err := parseWait(w.For)
	if err != nil {
		return nil, fmt.Errorf("wait.for %q is not a duration: %w", w.For, err)
	}
	return &waitPlan{fixed: d, literal: true}, nil
}

// describeWait says what a wait step does, for describe_process.
func describeWait(w WaitStep) string {
	if w.Event != "" {
		return describeEvent(w)
	}
	if w.For != "" {
		return "wait " + w.For + ", then go on"
	}
	return "wait until " + w.Until + ", then go on"
}

// wakeTime is when the wait step s ends, from now; its error names the field and what it
// takes.
func (ip *interpreter) wakeTime(ctx workflow.Context, s planStep) (time.Time, error) {
	now := workflow.Now(ctx).UTC()
	w := s.Wait
	if w.For != "" {
		d := s.wait.fixed
		if !s.wait.literal {
			text, err := ip.render(w.For)
			if err != nil {
				return time.Time{}, fmt.Errorf("wait.for %q: %w", w.For, err)
			}
			if d, err = parseWait(text); err != nil {
				return time.Time{}, fmt.Errorf("wait.for %q is %q, not a duration from 0s to 365d; allowed: a Go duration such as 72h, or whole days such as 7d", w.For, text)
			}
		}
		return now.Add(d), nil
	}
	text, err := ip.render(w.Until)
	if err != nil {
		return time.Time{}, fmt.Errorf("wait.until %q: %w", w.Until, err)
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(text))
	if err != nil {
		return time.Time{}, fmt.Errorf("wait.until %q is %q, not an RFC 3339 time; allowed: a time such as 2026-05-01T09:00:00Z", w.Until, text)
	}
	return t.UTC(), nil
}

// wait holds the run at the wait step s on a durable timer until its time comes: the run's
// status is waiting, and its status view says until when. A time already past completes
// the step at once, with no timer. A cancel ends the wait (the run then undoes what was
// done); a time that cannot be worked out fails the run, naming the field.
func (ip *interpreter) wait(ctx workflow.Context, s planStep) error {
	r := ip.r
	until, err := ip.wakeTime(ctx, s)
	if err != nil {
		r.begin(ctx, s.Name, StatusInProgress, StepRunning)
		r.finishStep(ctx, s.Name, StepFailed, "", "", "", err.Error())
		return &stepFailure{step: s.Name, err: err}
	}
	at := until.Format(time.RFC3339)
	left := until.Sub(workflow.Now(ctx))
	if left > 0 {
		r.timer = &timerWait{step: s.Name, until: until}
		r.begin(ctx, s.Name, StatusWaiting, StepWaiting)
		r.log(ctx, "waiting", s.Name, "", "until "+at)
		summary := fmt.Sprintf("wait of step %s until %s", s.Name, at)
		if s.Summary != "" {
			if text, err := ip.render(s.Summary); err == nil {
				summary = text
			}
		}
		err = workflow.NewTimerWithOptions(ctx, left, workflow.TimerOptions{Summary: summary}).Get(ctx, nil)
		r.timer = nil
		if err != nil {
			r.finishStep(ctx, s.Name, StepCancelled, "", "", "", "cancelled while waiting")
			return err
		}
	} else {
		r.begin(ctx, s.Name, StatusInProgress, StepRunning)
	}
	ip.keep(s.Name, map[string]any{"until": at})
	result := "waited until " + at
	if left <= 0 {
		result = at + " had passed: nothing to wait for"
	}
	r.finishStep(ctx, s.Name, StepCompleted, "", "", result, "")
	r.state.Status = StatusInProgress
	r.publish(ctx)
	return nil
}

// waiting is what a run held at a timer waits for: nothing anyone can do but cancel.
func (t *timerWait) waiting() *Waiting {
	return &Waiting{Step: t.step, For: waitFor, Actions: []Action{}, Deadline: t.until}
}
