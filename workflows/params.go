package workflows

import (
	"fmt"
	"net/mail"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// ParamError is a refused parameter: which one, what is wrong, and what is allowed.
type ParamError struct {
	Field   string
	Problem string
	Allowed string
}

func (e *ParamError) Error() string {
	msg := e.Field + ": " + e.Problem
	if e.Allowed != "" {
		msg += "; allowed: " + e.Allowed
	}
	return msg
}

func paramErr(field, allowed, format string, args ...any) error {
	return &ParamError{Field: field, Problem: fmt.Sprintf(format, args...), Allowed: allowed}
}

// OnboardingParams are the parameters of an onboarding workflow.
type OnboardingParams struct {
	Email string `json:"email"`
	Name  string `json:"name"`
	Role  string `json:"role"`
	Team  string `json:"team,omitempty"`
}

// Roles a new user may get.
var Roles = []string{"viewer", "editor", "admin"}

// Validate checks and normalizes the parameters.
func (p *OnboardingParams) Validate() error {
	p.Email = strings.TrimSpace(p.Email)
	addr, err := mail.ParseAddress(p.Email)
	if p.Email == "" || err != nil || addr.Address != p.Email || !strings.Contains(addr.Address[strings.LastIndexByte(addr.Address, '@'):], ".") {
		return paramErr("parameters.email", "a plain address such as ada@example.com", "%q is not a valid email address", p.Email)
	}
	p.Email = strings.ToLower(p.Email)
	p.Name = strings.TrimSpace(p.Name)
	if n := utf8.RuneCountInString(p.Name); n < 1 || n > 100 {
		return paramErr("parameters.name", "1 to 100 characters, not blank", "is %d characters long after trimming", n)
	}
	if !slices.Contains(Roles, p.Role) {
		return paramErr("parameters.role", strings.Join(Roles, " | "), "%q is not a role", p.Role)
	}
	p.Team = strings.TrimSpace(p.Team)
	if utf8.RuneCountInString(p.Team) > 100 {
		return paramErr("parameters.team", "up to 100 characters", "is too long")
	}
	return nil
}

// DeploymentParams are the parameters of a deployment workflow.
type DeploymentParams struct {
	Service     string `json:"service"`
	Version     string `json:"version"`
	Environment string `json:"environment"`
	// Manifest is an optional JSON file in the file sandbox.
	Manifest string `json:"manifest,omitempty"`
}

// Environments a deployment may target.
var Environments = []string{"dev", "staging", "production"}

var serviceName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// semVer is the regular expression of semver.org (2.0.0), with an optional leading v.
var semVer = regexp.MustCompile(`^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// Validate checks and normalizes the parameters. Whether the gateway knows the service
// is checked by the workflow's first step, on the worker that holds the gateway's config.
func (p *DeploymentParams) Validate() error {
	p.Service = strings.TrimSpace(p.Service)
	if !serviceName.MatchString(p.Service) {
		return paramErr("parameters.service", "a service name the gateway knows, such as \"orders\" (lowercase letters, digits, '-')", "%q is not a service name", p.Service)
	}
	p.Version = strings.TrimSpace(p.Version)
	if !semVer.MatchString(p.Version) {
		return paramErr("parameters.version", "a semantic version such as 1.4.2 or 2.0.0-rc.1", "%q is not a semantic version", p.Version)
	}
	if !slices.Contains(Environments, p.Environment) {
		return paramErr("parameters.environment", strings.Join(Environments, " | "), "%q is not an environment", p.Environment)
	}
	if p.Manifest != "" {
		if err := checkSandboxPath("parameters.manifest", p.Manifest, ".json"); err != nil {
			return err
		}
	}
	return nil
}

// NeedsApproval reports whether the environment requires an approval gate.
func (p DeploymentParams) NeedsApproval() bool { return p.Environment != "dev" }

// AuditParams are the parameters of an audit workflow.
type AuditParams struct {
	Tables []string `json:"tables"`
	// Since keeps records created on or after this date (YYYY-MM-DD).
	Since string `json:"since,omitempty"`
	// Evidence lists CSV or JSON files in the file sandbox.
	Evidence []string `json:"evidence,omitempty"`
}

// AuditTables are the tables an audit may cover.
var AuditTables = []string{"users", "products", "orders"}

// Validate checks and normalizes the parameters.
func (p *AuditParams) Validate() error {
	if len(p.Tables) == 0 {
		return paramErr("parameters.tables", "a non-empty subset of "+strings.Join(AuditTables, ", "), "is empty")
	}
	seen := map[string]bool{}
	for _, t := range p.Tables {
		if !slices.Contains(AuditTables, t) {
			return paramErr("parameters.tables", "a subset of "+strings.Join(AuditTables, ", "), "%q is not an auditable table", t)
		}
		if seen[t] {
			return paramErr("parameters.tables", "each table once", "%q is listed twice", t)
		}
		seen[t] = true
	}
	if p.Since != "" {
		if _, err := time.Parse(time.DateOnly, p.Since); err != nil {
			return paramErr("parameters.since", "a date as YYYY-MM-DD", "%q is not a date", p.Since)
		}
	}
	if len(p.Evidence) > 20 {
		return paramErr("parameters.evidence", "at most 20 files", "lists %d files", len(p.Evidence))
	}
	for i, e := range p.Evidence {
		if err := checkSandboxPath(fmt.Sprintf("parameters.evidence[%d]", i), e, ".csv", ".json"); err != nil {
			return err
		}
	}
	return nil
}

// checkSandboxPath checks the shape of a sandbox path; the file activities resolve it safely.
func checkSandboxPath(field, p string, exts ...string) error {
	allowed := "a path relative to the file sandbox ending in " + strings.Join(exts, " or ")
	if len(p) > 1024 || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") || !utf8.ValidString(p) {
		return paramErr(field, allowed, "%q is not a relative sandbox path", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return paramErr(field, allowed, "%q has a '..' segment", p)
		}
	}
	if !slices.Contains(exts, strings.ToLower(path.Ext(p))) {
		return paramErr(field, allowed, "%q has the wrong extension", p)
	}
	return nil
}

// CheckRequest refuses a request whose requester or approval timeout a run cannot take:
// an empty name or one CheckName refuses, a timeout out of 1s to 8760h.
func CheckRequest(req Request) error {
	if strings.TrimSpace(req.RequestedBy) == "" {
		return paramErr("requested_by", "the caller's identity", "is empty")
	}
	if problem := nameProblem(req.RequestedBy); problem != "" {
		return paramErr("requested_by", "the caller's identity: "+nameAllowed, "%s", problem)
	}
	if req.ApprovalTimeout < 0 || (req.ApprovalTimeout > 0 && req.ApprovalTimeout < time.Second) || req.ApprovalTimeout > 365*24*time.Hour {
		return paramErr("approval_timeout", "1s to 8760h", "%s is out of range", req.ApprovalTimeout)
	}
	return nil
}
