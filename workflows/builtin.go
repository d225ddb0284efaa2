package workflows

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sync"
)

//go:embed processes/*.yaml
var builtinFiles embed.FS

// BuiltinFile is a process definition shipped in the binary.
type BuiltinFile struct {
	// Path names it in errors and listings: builtin:NAME.yaml.
	Path string
	Data []byte
}

// BuiltinDefinitions returns the process definitions shipped in the binary, sorted by
// file name. A definition of the same name loaded from a file takes its place.
func BuiltinDefinitions() []BuiltinFile {
	names, _ := fs.Glob(builtinFiles, "processes/*.yaml")
	slices.Sort(names)
	out := make([]BuiltinFile, 0, len(names))
	for _, n := range names {
		data, err := builtinFiles.ReadFile(n)
		if err != nil {
			panic("workflows: embedded definition " + n + ": " + err.Error()) // embedded at build time
		}
		out = append(out, BuiltinFile{Path: "builtin:" + path.Base(n), Data: data})
	}
	return out
}

// shipped holds the parsed definitions of the defined kinds, read once.
var shipped = sync.OnceValues(func() (map[Kind]shippedProcess, error) {
	out := map[Kind]shippedProcess{}
	for _, f := range BuiltinDefinitions() {
		d, err := ParseDefinition(f.Path, f.Data, DefinitionRules{})
		if err != nil {
			return nil, err
		}
		schema, err := CompileParams(d)
		if err != nil {
			return nil, fmt.Errorf("%s: parameters: %w", f.Path, err)
		}
		out[Kind(d.Name)] = shippedProcess{NewProcessSource(d, f.Data), schema}
	}
	return out, nil
})

type shippedProcess struct {
	source ProcessSource
	params *ParamSchema
}

// ShippedProcess returns the definition the binary ships for a defined kind and its
// compiled parameter schema.
func ShippedProcess(kind Kind) (ProcessSource, *ParamSchema, error) {
	all, err := shipped()
	if err != nil {
		return ProcessSource{}, nil, err
	}
	p, ok := all[kind]
	if !ok {
		return ProcessSource{}, nil, fmt.Errorf("no shipped definition of %s", kind)
	}
	return p.source, p.params, nil
}

// DefinedKinds are the built-in kinds whose new runs follow a shipped definition; their
// Go code (workflows/legacy) stays registered for the runs started before.
var DefinedKinds = []Kind{KindOnboarding, KindDeployment, KindAudit}

// Steps of an onboarding run, on the shipped definition and on the Go code alike.
const (
	StepValidate          = "validate"
	StepCreateUserRecord  = "create_user_record"
	StepProvisionAccounts = "provision_accounts"
	StepManagerApproval   = "manager_approval"
	StepGrantAccess       = "grant_access"
	StepSendWelcome       = "send_welcome"
)

// Steps of a deployment run (and StepValidate), on the shipped definition and on the Go
// code alike.
const (
	StepLoadManifest     = "load_manifest"
	StepPreCheck         = "pre_check"
	StepDeployApproval   = "approval"
	StepDeploy           = "deploy"
	StepVerify           = "verify"
	StepRecordDeployment = "record_deployment"
)

// Steps of an audit run, on the shipped definition and on the Go code alike.
const (
	StepCollectRecords = "collect_records"
	StepParseEvidence  = "parse_evidence"
	StepAnalyze        = "analyze"
	StepAuditorSignoff = "auditor_signoff"
	StepPublishReport  = "publish_report"
)

// BuiltinInput is the input of a built-in kind's workflow type. Runs started since the
// kind became a definition carry it (Process) with their parameters as the definition
// takes them; runs started before carry their typed parameters only and finish on the
// kind's Go code (workflows/legacy), as they began.
type BuiltinInput struct {
	Request
	Process *ProcessSource  `json:"process,omitempty"`
	Params  json.RawMessage `json:"params"`
	// Resume is set on a run that continued as new at a gate (with Process).
	Resume *Resume `json:"resume,omitempty"`
}
