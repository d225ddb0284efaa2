package workflows

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ScheduleDef is a schedule a definition declares: when Temporal starts a run of the
// process, with which parameters and as whom. The server that loads the definition keeps
// a Temporal Schedule equal to it (internal/app's reconcile).
type ScheduleDef struct {
	// Name is unique in the definition; the Temporal Schedule is flowgate-PROCESS-NAME.
	Name string `yaml:"name" json:"name"`
	// Cron (five fields, or @hourly, @daily, @weekly, @monthly, @yearly) or Every (a Go
	// duration): exactly one.
	Cron  string `yaml:"cron,omitempty" json:"cron,omitempty"`
	Every string `yaml:"every,omitempty" json:"every,omitempty"`
	// Timezone is an IANA zone name the cron is read in (default UTC).
	Timezone string `yaml:"timezone,omitempty" json:"timezone,omitempty"`
	// Params are the parameters of each run, checked against the definition's schema.
	Params map[string]any `yaml:"params,omitempty" json:"params,omitempty"`
	// As is the identity that requests each run (default schedule:NAME): separation of
	// duties keeps it from approving the run.
	As string `yaml:"as,omitempty" json:"as,omitempty"`
	// Overlap is what happens when a run is due while the last one still runs
	// (ScheduleOverlaps; default skip).
	Overlap string `yaml:"overlap,omitempty" json:"overlap,omitempty"`
	// Jitter delays each run by a random time up to this.
	Jitter string `yaml:"jitter,omitempty" json:"jitter,omitempty"`
	// CatchupWindow is how late a run missed while Temporal was down may still start
	// (default one year; at least 10s).
	CatchupWindow string `yaml:"catchup_window,omitempty" json:"catchup_window,omitempty"`
	// Paused creates the schedule paused.
	Paused bool `yaml:"paused,omitempty" json:"paused,omitempty"`
}

// ScheduleOverlaps are the overlap policies a schedule may name, Temporal's
// ScheduleOverlapPolicy values in lower case.
var ScheduleOverlaps = []string{"skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other", "allow_all"}

// MinCatchupWindow is the shortest catch-up window Temporal takes.
const MinCatchupWindow = 10 * time.Second

// ScheduleRequester is who requests a schedule's runs: As, or schedule:NAME.
func (s ScheduleDef) ScheduleRequester() string {
	if s.As != "" {
		return s.As
	}
	return "schedule:" + s.Name
}

// ScheduleProblem is one thing wrong with a schedule: the field and what is allowed.
type ScheduleProblem struct {
	Field, Problem, Allowed string
}

func (p ScheduleProblem) Error() string {
	msg := p.Field + ": " + p.Problem
	if p.Allowed != "" {
		msg += "; allowed: " + p.Allowed
	}
	return msg
}

// Problems checks everything of the schedule but its params (which need the schema) and
// its timezone (which needs the zone database: CheckTimezone).
func (s ScheduleDef) Problems() []ScheduleProblem {
	var out []ScheduleProblem
	add := func(field, allowed, format string, args ...any) {
		out = append(out, ScheduleProblem{field, fmt.Sprintf(format, args...), allowed})
	}
	if !definitionName.MatchString(s.Name) {
		add("name", "lowercase letters, digits and '_', starting with a letter", "schedule name %q", s.Name)
	}
	var every time.Duration
	switch {
	case s.Cron == "" && s.Every == "":
		add("cron", `a cron such as "0 7 * * MON" or every such as 24h`, "the schedule says neither cron nor every")
	case s.Cron != "" && s.Every != "":
		add("every", "cron or every, not both", "the schedule says both cron and every")
	case s.Cron != "":
		if err := CheckCron(s.Cron); err != nil {
			add("cron", `five fields (minute hour day-of-month month day-of-week) such as "0 7 * * MON", or @hourly, @daily, @weekly, @monthly, @yearly`, "%q: %v", s.Cron, err)
		}
	default:
		d, err := time.ParseDuration(s.Every)
		if err != nil || d < time.Second || d > 365*24*time.Hour {
			add("every", "a Go duration from 1s to 8760h such as 24h", "%q is not a duration from 1s to 8760h", s.Every)
		}
		every = d
	}
	if s.Timezone != "" && s.Cron == "" {
		add("timezone", "timezone with cron", "every runs at fixed intervals, which no timezone changes")
	}
	if s.As != "" {
		if err := CheckName("as", s.As); err != nil {
			add("as", "", "%v", err)
		}
	}
	if s.Overlap != "" && !slices.Contains(ScheduleOverlaps, s.Overlap) {
		add("overlap", strings.Join(ScheduleOverlaps, ", "), "%q is not an overlap policy", s.Overlap)
	}
	if s.Jitter != "" {
		d, err := time.ParseDuration(s.Jitter)
		switch {
		case err != nil || d < 0 || d > 365*24*time.Hour:
			add("jitter", "a Go duration such as 5m", "%q is not a duration up to 8760h", s.Jitter)
		case every > 0 && d >= every:
			add("jitter", "less than every ("+s.Every+")", "%s would push a run past the next", s.Jitter)
		}
	}
	if s.CatchupWindow != "" {
		d, err := time.ParseDuration(s.CatchupWindow)
		if err != nil || d < MinCatchupWindow || d > 365*24*time.Hour {
			add("catchup_window", "a Go duration from 10s to 8760h such as 1h", "%q is not a duration from 10s to 8760h", s.CatchupWindow)
		}
	}
	return out
}

// CheckTimezone refuses a zone the zone database does not know.
func CheckTimezone(zone string) *ScheduleProblem {
	if zone == "" {
		return nil
	}
	if _, err := time.LoadLocation(zone); err != nil || zone == "Local" {
		return &ScheduleProblem{"timezone", fmt.Sprintf("%q is not a time zone", zone), "an IANA name such as Europe/Paris or America/New_York (default UTC)"}
	}
	return nil
}

// cronFields are the fields of a five-field cron: name, lowest and highest value, and
// the names a value may take (index = value - names offset).
var cronFields = []struct {
	name     string
	min, max int
	names    []string
}{
	{"minute", 0, 59, nil},
	{"hour", 0, 23, nil},
	{"day of month", 1, 31, nil},
	{"month", 1, 12, []string{"", "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	{"day of week", 0, 7, []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
}

// CheckCron refuses a cron Temporal's schedules would not take, as Temporal reads it:
// five fields of *, values, names, ranges, steps and lists, or a shorthand. The zone and
// @every have fields of their own (timezone, every).
func CheckCron(cron string) error {
	c := strings.TrimSpace(cron)
	switch {
	case strings.HasPrefix(c, "TZ=") || strings.HasPrefix(c, "CRON_TZ="):
		return fmt.Errorf("the zone goes in timezone, not in the cron")
	case strings.HasPrefix(c, "@every"):
		return fmt.Errorf("use every: for intervals")
	case strings.HasPrefix(c, "@"):
		switch c {
		case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly":
			return nil
		}
		return fmt.Errorf("%s is not a shorthand", c)
	}
	fields := strings.Fields(c)
	if len(fields) != len(cronFields) {
		return fmt.Errorf("it has %d fields, not 5", len(fields))
	}
	for i, f := range fields {
		spec := cronFields[i]
		for part := range strings.SplitSeq(f, ",") {
			if err := cronPart(part, spec.min, spec.max, spec.names); err != nil {
				return fmt.Errorf("%s %q: %v", spec.name, f, err)
			}
		}
	}
	return nil
}

// cronPart checks one comma-separated part: *, a value, a-b, each with an optional /step.
func cronPart(part string, lo, hi int, names []string) error {
	rng, step, hasStep := strings.Cut(part, "/")
	if hasStep {
		if n, err := strconv.Atoi(step); err != nil || n < 1 {
			return fmt.Errorf("step %q is not a whole number from 1", step)
		}
	}
	if rng == "*" {
		return nil
	}
	value := func(s string) (int, error) {
		for i, n := range names {
			if n != "" && strings.EqualFold(s, n) {
				return i, nil
			}
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < lo || v > hi {
			return 0, fmt.Errorf("%q is not from %d to %d", s, lo, hi)
		}
		return v, nil
	}
	from, to, isRange := strings.Cut(rng, "-")
	a, err := value(from)
	if err != nil {
		return err
	}
	if isRange {
		b, err := value(to)
		if err != nil {
			return err
		}
		if b < a {
			return fmt.Errorf("range %s ends before it starts", rng)
		}
	}
	return nil
}
