package mcpserver

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/workflows"
)

// ScheduleView is one of Flowgate's schedules (app.ScheduleView).
type ScheduleView = app.ScheduleView

// ListSchedulesResult is the result of list_schedules.
type ListSchedulesResult struct {
	Schedules []ScheduleView `json:"schedules"`
}

// CreateScheduleArgs are the arguments of create_schedule.
type CreateScheduleArgs struct {
	Process       string         `json:"process"`
	Name          string         `json:"name"`
	Cron          string         `json:"cron,omitempty"`
	Every         string         `json:"every,omitempty"`
	Timezone      string         `json:"timezone,omitempty"`
	Parameters    map[string]any `json:"parameters,omitempty"`
	As            string         `json:"as,omitempty"`
	Overlap       string         `json:"overlap,omitempty"`
	Jitter        string         `json:"jitter,omitempty"`
	CatchupWindow string         `json:"catchup_window,omitempty"`
	Paused        bool           `json:"paused,omitempty"`
	Reason        string         `json:"reason"`
}

// ScheduleArgs are the arguments of the tools that change one schedule.
type ScheduleArgs struct {
	ScheduleID string `json:"schedule_id"`
	Reason     string `json:"reason"`
}

// KeepSchedules keeps Flowgate's Temporal Schedules equal to the schedules the loaded
// definitions declare, until ctx ends (app.Service.KeepSchedules).
func (s *Server) KeepSchedules(ctx context.Context) { s.app.KeepSchedules(ctx) }

func (s *Server) addScheduleTools() {
	s.mcp.AddTool(mcp.NewTool("list_schedules",
		mcp.WithDescription("List Flowgate's schedules (Temporal Schedules named flowgate-PROCESS-NAME): which process each starts, when, as whom, whether it is paused and why (note), its next times and the runs it started lately. Schedules come from process definitions (origin definition) or create_schedule. Needs the admin scope."),
		mcp.WithOutputSchema[ListSchedulesResult](),
		readOnly("List schedules"),
	), typed(s.listSchedules))

	s.mcp.AddTool(mcp.NewTool("create_schedule",
		mcp.WithDescription(`Create a schedule that starts runs of a loaded process by itself, each an ordinary run (gates, notifications and tasks as for any other) requested by "as" (default: you). Give exactly one of cron and every. Each run takes the definition loaded when it starts. To change one, delete_schedule it and create it again. Needs the admin scope.`),
		mcp.WithString("process", mcp.Required(), mcp.Description("A process loaded from a definition file (describe_process lists its parameters).")),
		mcp.WithString("name", mcp.Required(), mcp.Description("The schedule's name: lowercase letters, digits and '_'; its id becomes flowgate-PROCESS-NAME.")),
		mcp.WithString("cron", mcp.Description(`Five fields (minute hour day-of-month month day-of-week), such as "0 7 * * MON", or @hourly, @daily, @weekly, @monthly.`)),
		mcp.WithString("every", mcp.Description(`An interval as a Go duration, such as "24h".`)),
		mcp.WithString("timezone", mcp.Description("IANA zone the cron is read in, such as Europe/Paris (default UTC).")),
		mcp.WithObject("parameters", mcp.Description("Each run's parameters, checked against the process's schema.")),
		mcp.WithString("as", mcp.Description("The identity that requests each run (default: you). Separation of duties keeps it from approving the runs.")),
		mcp.WithString("overlap", mcp.Enum(workflows.ScheduleOverlaps...), mcp.Description("When a run is due while the last still runs (default skip).")),
		mcp.WithString("jitter", mcp.Description("Delay each run by a random time up to this Go duration.")),
		mcp.WithString("catchup_window", mcp.Description("How late a run missed while Temporal was down may still start (at least 10s; default one year).")),
		mcp.WithBoolean("paused", mcp.Description("Create it paused.")),
		mcp.WithString("reason", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(MaxCommentLength), mcp.Description("Why; recorded as the schedule's note.")),
		mcp.WithOutputSchema[ScheduleView](),
		// It starts runs that reach the gateway's services; a second call with the same
		// name is refused.
		behaviour("Create a schedule", writes, notDestructive, notIdempotent, openWorld),
	), typed(s.createSchedule))

	for _, t := range []struct {
		op                app.ScheduleOp
		name, title, desc string
		destructive       bool
		idempotent        bool
	}{
		{app.SchedulePause, "pause_schedule", "Pause a schedule", "Pause a schedule: it starts no run until unpause_schedule. Runs it started go on. The reason becomes its note.", notDestructive, idempotent},
		{app.ScheduleUnpause, "unpause_schedule", "Unpause a schedule", "Unpause a paused schedule: it starts runs at its next times again. The reason becomes its note.", notDestructive, idempotent},
		{app.ScheduleTrigger, "trigger_schedule", "Start a scheduled run now", "Start one run of a schedule now, as it would at its next time (even when it is paused or a run is still going). The reason becomes its note. Returns the schedule; its recent_runs ends with the new run.", notDestructive, notIdempotent},
		{app.ScheduleDelete, "delete_schedule", "Delete a schedule", "Delete a schedule made with create_schedule. Runs it started go on. A schedule a process definition declares cannot be deleted here (the next reload would make it again): remove it from the definition, or pause it.", destructive, idempotent},
	} {
		op := t.op
		s.mcp.AddTool(mcp.NewTool(t.name,
			mcp.WithDescription(t.desc+" Needs the admin scope."),
			mcp.WithString("schedule_id", mcp.Required(), mcp.MaxLength(MaxIDLength), mcp.Description("The id list_schedules returned, flowgate-PROCESS-NAME.")),
			mcp.WithString("reason", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(MaxCommentLength), mcp.Description("Why; recorded as the schedule's note.")),
			mcp.WithOutputSchema[ScheduleView](),
			behaviour(t.title, writes, t.destructive, t.idempotent, op == app.ScheduleTrigger),
		), typed(func(ctx context.Context, _ mcp.CallToolRequest, args ScheduleArgs) (*mcp.CallToolResult, error) {
			return s.changeSchedule(ctx, op, args)
		}))
	}
}

func (s *Server) listSchedules(ctx context.Context, _ mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, error) {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	list, err := s.app.ListSchedules(ctx, s.caller(ctx))
	if err != nil {
		return s.toolError(ctx, "list_schedules", "", err), nil
	}
	lines := []string{fmt.Sprintf("%d schedules.", len(list))}
	for _, v := range list {
		lines = append(lines, "- "+describeSchedule(v))
	}
	return mcp.NewToolResultStructured(ListSchedulesResult{Schedules: list}, strings.Join(lines, "\n")), nil
}

func (s *Server) createSchedule(ctx context.Context, _ mcp.CallToolRequest, args CreateScheduleArgs) (*mcp.CallToolResult, error) {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	v, err := s.app.CreateSchedule(ctx, s.caller(ctx), app.ScheduleRequest{Process: args.Process, Reason: args.Reason, Schedule: workflows.ScheduleDef{
		Name: args.Name, Cron: args.Cron, Every: args.Every, Timezone: args.Timezone, Params: args.Parameters, As: args.As,
		Overlap: args.Overlap, Jitter: args.Jitter, CatchupWindow: args.CatchupWindow, Paused: args.Paused}})
	if err != nil {
		return s.toolError(ctx, "create_schedule", "", err), nil
	}
	return mcp.NewToolResultStructured(v, "Created "+describeSchedule(v)), nil
}

func (s *Server) changeSchedule(ctx context.Context, op app.ScheduleOp, args ScheduleArgs) (*mcp.CallToolResult, error) {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	v, err := s.app.ChangeSchedule(ctx, s.caller(ctx), op, args.ScheduleID, args.Reason)
	if err != nil {
		return s.toolError(ctx, string(op)+"_schedule", "", err), nil
	}
	done := map[app.ScheduleOp]string{app.SchedulePause: "Paused", app.ScheduleUnpause: "Unpaused", app.ScheduleTrigger: "Triggered", app.ScheduleDelete: "Deleted"}[op]
	return mcp.NewToolResultStructured(v, done+" "+describeSchedule(v)), nil
}

// describeSchedule says a schedule in a line.
func describeSchedule(v ScheduleView) string {
	state := "active"
	if v.Paused {
		state = "paused"
	}
	text := fmt.Sprintf("%s: %s %s as %s, %s (%s), %d runs started", v.ScheduleID, v.Process, v.Spec, v.RequestedBy, state, v.Origin, v.Actions)
	if v.Note != "" {
		text += "; note: " + v.Note
	}
	if len(v.Next) > 0 {
		text += "; next " + v.Next[0].UTC().Format("2006-01-02T15:04:05Z")
	}
	return text
}
