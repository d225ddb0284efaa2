package workflows_test

import (
	"strings"
	"testing"

	"github.com/flowgate/flowgate/workflows"
)

// TestBadSchedulesNameFileLineAndField: each mistake in a schedule is refused at load
// with the file, the line of the field, what is wrong and what is allowed, so no schedule
// Temporal would refuse (or run with the wrong parameters) reaches it.
func TestBadSchedulesNameFileLineAndField(t *testing.T) {
	const head = "name: p\ntitle: P\nversion: 1\nsummary: s\nparameters:\n  type: object\n  additionalProperties: false\n  properties:\n    amount: {type: integer}\nsteps:\n  - name: a\n    approval: {scope: approve}\nschedules:\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"neither cron nor every", "  - name: w\n", `p.yaml:14: cron: the schedule says neither cron nor every`},
		{"both", "  - name: w\n    cron: \"0 7 * * MON\"\n    every: 1h\n", `p.yaml:16: every: the schedule says both cron and every; allowed: cron or every, not both`},
		{"cron of four fields", "  - name: w\n    cron: \"0 7 * *\"\n", `p.yaml:15: cron: "0 7 * *": it has 4 fields, not 5`},
		{"cron out of range", "  - name: w\n    cron: \"0 25 * * *\"\n", `p.yaml:15: cron: "0 25 * * *": hour "25": "25" is not from 0 to 23`},
		{"cron with a zone", "  - name: w\n    cron: \"CRON_TZ=UTC 0 7 * * *\"\n", `the zone goes in timezone`},
		{"every too short", "  - name: w\n    every: 10ms\n", `p.yaml:15: every: "10ms" is not a duration from 1s to 8760h`},
		{"unknown zone", "  - name: w\n    cron: \"@weekly\"\n    timezone: Mars/Olympus\n", `p.yaml:16: timezone: "Mars/Olympus" is not a time zone; allowed: an IANA name`},
		{"overlap", "  - name: w\n    every: 1h\n    overlap: queue\n", `p.yaml:16: overlap: "queue" is not an overlap policy; allowed: skip, buffer_one, buffer_all, cancel_other, terminate_other, allow_all`},
		{"jitter past every", "  - name: w\n    every: 1m\n    jitter: 2m\n", `p.yaml:16: jitter: 2m would push a run past the next`},
		{"catchup too short", "  - name: w\n    every: 1h\n    catchup_window: 1s\n", `p.yaml:16: catchup_window: "1s" is not a duration from 10s to 8760h`},
		{"params against the schema", "  - name: w\n    every: 1h\n    params: {amount: many}\n", `p.yaml:16: params of schedule "w": parameters.amount`},
		{"unknown param", "  - name: w\n    every: 1h\n    params: {amount: 1, who: x}\n", `parameters.who: is not a known parameter`},
		{"duplicate", "  - name: w\n    every: 1h\n  - name: w\n    every: 2h\n", `p.yaml:16: name: schedule "w" is declared twice`},
		{"bad name", "  - name: Weekly\n    every: 1h\n", `p.yaml:14: name: schedule name "Weekly"`},
		{"unknown field", "  - name: w\n    every: 1h\n    when: monday\n", `p.yaml:16: unknown field "when"; allowed: name, cron, every, timezone, params, as, overlap, jitter, catchup_window, paused`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := workflows.ParseDefinition("p.yaml", []byte(head+tc.yaml), workflows.DefinitionRules{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
	good := head + "  - name: weekly\n    cron: \"30 7 * 1-6,DEC MON-FRI/2\"\n    timezone: Europe/Paris\n    params: {amount: 3}\n    as: audit-bot\n    overlap: buffer_one\n    jitter: 5m\n    catchup_window: 1h\n    paused: true\n  - name: often\n    every: 2s\n"
	d, err := workflows.ParseDefinition("p.yaml", []byte(good), workflows.DefinitionRules{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Schedules) != 2 || d.Schedules[0].ScheduleRequester() != "audit-bot" || d.Schedules[1].ScheduleRequester() != "schedule:often" {
		t.Errorf("schedules = %+v", d.Schedules)
	}
}
