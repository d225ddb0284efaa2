package app

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/flowgate/flowgate/internal/processes"
	"github.com/flowgate/flowgate/workflows"
)

// ProcessView describes a process definition to agents: what it does, its parameter
// schema, and its steps with the gates and who may decide at each.
type ProcessView struct {
	Name        string         `json:"name"`
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	Version     int            `json:"version"`
	Hash        string         `json:"hash"`
	File        string         `json:"file"`
	Parameters  map[string]any `json:"parameters"`
	Steps       []StepView     `json:"steps"`
	// Source is the definition file as loaded: what a run started now carries.
	Source string `json:"source"`
}

// StepView is one step of a process as describe_process shows it.
type StepView struct {
	Name string `json:"name"`
	// Kind is one of the step kinds a definition may use (workflows.StepKinds).
	Kind string `json:"kind"`
	// When is the CEL condition under which the step runs; empty means always.
	When string `json:"when,omitempty"`
	// Does says in words what the step does.
	Does string `json:"does"`
	// Gate is set on approval steps: who decides, how many, and until when.
	Gate *workflows.ApprovalStep `json:"gate,omitempty"`
	// Undo says how the step is undone when the run does not complete.
	Undo string `json:"undo,omitempty"`
}

// DescribeProcess is the view of a loaded process.
func DescribeProcess(p *processes.Process) ProcessView {
	d := p.Definition
	v := ProcessView{Name: d.Name, Title: d.Title, Description: d.Description, Version: d.Version, Hash: p.Source.Hash,
		File: filepath.Base(p.Path), Parameters: d.Parameters, Source: p.Source.Source, Steps: []StepView{}}
	for _, s := range d.Steps {
		desc := d.Describe(s)
		sv := StepView{Name: s.Name, Kind: desc.Kind, When: s.When, Does: desc.Does, Undo: desc.Undo}
		if s.Approval != nil {
			g := *s.Approval
			g.Quorum = max(g.Quorum, 1)
			sv.Gate = &g
		}
		v.Steps = append(v.Steps, sv)
	}
	return v
}

// Describe describes the process name: what it does, its parameters, its steps, its gates
// and who decides there. The caller must hold the read scope.
func (s *Service) Describe(c Caller, name string) (ProcessView, error) {
	if !c.Has(ScopeRead) {
		return ProcessView{}, &ScopeError{Caller: c.Name, Need: ScopeRead, Doing: "describing a process"}
	}
	p, ok := s.cfg.Processes.Get(name)
	if !ok {
		names := s.cfg.Processes.Names()
		if len(names) == 0 {
			names = []string{"(none)"}
		}
		return ProcessView{}, &ArgError{"name", fmt.Sprintf("%q is not a loaded process", name), strings.Join(names, ", ")}
	}
	return DescribeProcess(p), nil
}
