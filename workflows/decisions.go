package workflows

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"
)

// DecisionKeys are the secrets that sign decisions: Flowgate's MCP server (and approval
// pages) sign every decision with the first key; workers verify with any of them, so a
// new key can be put first while the old ones still verify decisions in flight.
type DecisionKeys struct {
	keys []decisionKey
}

type decisionKey struct {
	id     string
	secret []byte
}

// DecisionTTL is how long a signed decision stays valid: long enough to reach the
// workflow, short enough that a captured one is soon useless (each is single-use anyway).
const DecisionTTL = 5 * time.Minute

// ParseDecisionKeys reads a key file: one key per line as "ID SECRET" (SECRET base64, at
// least 32 bytes); the first line signs. Blank lines and lines starting with # are skipped.
func ParseDecisionKeys(data []byte) (*DecisionKeys, error) {
	k := &DecisionKeys{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, secret, ok := strings.Cut(line, " ")
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(secret))
		if !ok || id == "" || err != nil || len(raw) < 32 {
			return nil, fmt.Errorf("line %d: want \"ID SECRET\" with SECRET base64 of at least 32 bytes (flowgate writes one with --decision-keys on a missing file)", i+1)
		}
		if slices.ContainsFunc(k.keys, func(x decisionKey) bool { return x.id == id }) {
			return nil, fmt.Errorf("line %d: key id %q appears twice", i+1, id)
		}
		k.keys = append(k.keys, decisionKey{id: id, secret: raw})
	}
	if len(k.keys) == 0 {
		return nil, errors.New("no keys")
	}
	return k, nil
}

// LoadOrCreateDecisionKeys reads the key file at path, creating it (mode 0600, one new
// random key) when it does not exist. Processes that start together may both try: the
// file appears whole or not at all, and the one that loses reads the winner's.
func LoadOrCreateDecisionKeys(path string) (*DecisionKeys, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := createDecisionKeys(path); err != nil {
			return nil, fmt.Errorf("create decision keys %s: %w", path, err)
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	k, err := ParseDecisionKeys(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

func createDecisionKeys(path string) error {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	id := time.Now().UTC().Format("20060102")
	data := fmt.Sprintf("# Flowgate decision keys: the first line signs, every line verifies. Keep this file secret;\n# give the same file to every worker and MCP server.\n%s %s\n", id, base64.StdEncoding.EncodeToString(secret))
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".decision-keys-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(data)
	if err := errors.Join(werr, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		return err
	}
	// A hard link appears atomically and fails when the file exists: another process won.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// signedOnlyKey marks, in a workflow's context, a worker that holds decision keys.
type signedOnlyKey struct{}

// SignedOnly is the interceptor of a worker that holds decision keys: every run it starts
// takes only signed decisions, whatever its input says, so a run started around the MCP
// server (a raw Temporal client, the web UI's API) cannot be decided by a signal or an
// unsigned update that claims any name.
func SignedOnly() interceptor.WorkerInterceptor { return &signedOnly{} }

type signedOnly struct {
	interceptor.WorkerInterceptorBase
}

func (*signedOnly) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &signedOnlyInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}}
}

type signedOnlyInbound struct {
	interceptor.WorkflowInboundInterceptorBase
}

func (i *signedOnlyInbound) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	return i.Next.ExecuteWorkflow(workflow.WithValue(ctx, signedOnlyKey{}, true), in)
}

// workerHoldsKeys tells whether the worker running ctx's workflow holds decision keys.
func workerHoldsKeys(ctx workflow.Context) bool {
	held, _ := ctx.Value(signedOnlyKey{}).(bool)
	return held
}

// verifier holds the keys this process's workflows verify decisions with.
var verifier atomic.Pointer[DecisionKeys]

// UseDecisionKeys makes the workflows run by this process verify decisions with keys. A
// worker without keys refuses every decision on a run that requires signed decisions.
func UseDecisionKeys(keys *DecisionKeys) { verifier.Store(keys) }

// macPrefix marks a decision signature of the current form (macV2).
const macPrefix = "v2."

// mac is the signature of a decision on a run: an HMAC over every field the decision
// says, each preceded by its length, so no value can move a boundary between fields.
func (d AdvanceRequest) mac(secret []byte, workflowID string) string {
	h := hmac.New(sha256.New, secret)
	for _, f := range d.macFields(workflowID, "flowgate-decision-v2") {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return macPrefix + hex.EncodeToString(h.Sum(nil))
}

// macV1 is the signature servers made before mac: the fields joined by newlines. It is
// still checked for decisions signed by an older MCP server (they expire in DecisionTTL),
// but only when no field holds a newline, where the join is unambiguous.
func (d AdvanceRequest) macV1(secret []byte, workflowID string) (string, bool) {
	fields := d.macFields(workflowID, "flowgate-decision-v1")
	if slices.ContainsFunc(fields, func(f string) bool { return strings.Contains(f, "\n") }) {
		return "", false
	}
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(strings.Join(fields, "\n")))
	return hex.EncodeToString(h.Sum(nil)), true
}

func (d AdvanceRequest) macFields(workflowID, version string) []string {
	scopes := slices.Clone(d.Scopes)
	slices.Sort(scopes)
	comment := sha256.Sum256([]byte(d.Comment))
	return []string{version, workflowID, d.Step, string(d.Action), d.Actor,
		strings.Join(scopes, " "), fmt.Sprint(d.AllScopes), hex.EncodeToString(comment[:]),
		d.Nonce, d.Expires.UTC().Format(time.RFC3339Nano)}
}

// signedBy tells whether sig is d's signature on workflowID with secret, in either form.
func (d AdvanceRequest) signedBy(secret []byte, workflowID, sig string) bool {
	if strings.HasPrefix(sig, macPrefix) {
		return hmac.Equal([]byte(d.mac(secret, workflowID)), []byte(sig))
	}
	want, ok := d.macV1(secret, workflowID)
	return ok && hmac.Equal([]byte(want), []byte(sig))
}

// Sign signs a decision on a run with the first key: a fresh nonce, an expiry DecisionTTL
// from now, the key id and the signature over everything the decision says.
func (k *DecisionKeys) Sign(workflowID string, d AdvanceRequest, now time.Time) (AdvanceRequest, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return d, err
	}
	d.Nonce = hex.EncodeToString(nonce)
	d.Expires = now.UTC().Add(DecisionTTL)
	d.KeyID = k.keys[0].id
	d.Signature = d.mac(k.keys[0].secret, workflowID)
	return d, nil
}

// verify checks a decision's signature, expiry and key.
func (k *DecisionKeys) verify(workflowID string, d AdvanceRequest, now time.Time) error {
	if d.Signature == "" {
		return errors.New("this run accepts only decisions whose identity Flowgate verified (advance_workflow through the MCP server); an unsigned decision is refused")
	}
	i := slices.IndexFunc(k.keys, func(x decisionKey) bool { return x.id == d.KeyID })
	if i < 0 {
		return fmt.Errorf("the decision is signed with key %q, which this worker does not have; the decision is refused", d.KeyID)
	}
	if !d.signedBy(k.keys[i].secret, workflowID, d.Signature) {
		return errors.New("the decision's signature does not match what it says (altered or forged); it is refused")
	}
	if !now.Before(d.Expires) {
		return fmt.Errorf("the signed decision expired at %s; decide again", d.Expires.Format(time.RFC3339))
	}
	return nil
}

// ApprovalLink is what an approval link grants: one approver may decide one gate of one
// run once (Nonce) until Expires. The same signed form is an inbox session (no
// WorkflowID).
type ApprovalLink struct {
	WorkflowID string `json:"w"`
	// RunID is the first run of the workflow id the link was made for: a later run that
	// reuses the id (after retention) is not decided by it. Links made before it existed
	// have none, and are bound to the workflow id only, until their deadline.
	RunID    string    `json:"r,omitempty"`
	Step     string    `json:"s"`
	Approver string    `json:"a"`
	Expires  time.Time `json:"e"`
	Nonce    string    `json:"n"`
	KeyID    string    `json:"k"`
	// Credential names what an inbox session signed in with (a fingerprint of the API
	// key, or "oauth"): replacing or revoking that key ends the session.
	Credential string `json:"c,omitempty"`
}

func linkMAC(secret, payload []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("flowgate-link-v1\n"))
	h.Write(payload)
	return h.Sum(nil)
}

// SignLink returns the token of l, valid until l.Expires, with a fresh nonce and the
// first key: base64url(claims) "." base64url(HMAC).
func (k *DecisionKeys) SignLink(l ApprovalLink) (string, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	l.Expires, l.Nonce, l.KeyID = l.Expires.UTC(), hex.EncodeToString(nonce), k.keys[0].id
	payload, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(linkMAC(k.keys[0].secret, payload)), nil
}

// VerifyLink checks a link token's signature and expiry and returns what it grants.
func (k *DecisionKeys) VerifyLink(token string, now time.Time) (ApprovalLink, error) {
	enc := base64.RawURLEncoding
	p, s, ok := strings.Cut(token, ".")
	payload, perr := enc.DecodeString(p)
	sig, serr := enc.DecodeString(s)
	if !ok || perr != nil || serr != nil {
		return ApprovalLink{}, errors.New("this is not an approval link Flowgate made (it may be cut short: open the whole link)")
	}
	var l ApprovalLink
	if err := json.Unmarshal(payload, &l); err != nil {
		return ApprovalLink{}, errors.New("this is not an approval link Flowgate made")
	}
	i := slices.IndexFunc(k.keys, func(x decisionKey) bool { return x.id == l.KeyID })
	if i < 0 || !hmac.Equal(sig, linkMAC(k.keys[i].secret, payload)) {
		return ApprovalLink{}, errors.New("this approval link is not valid: it was altered, or signed with a key this server does not have")
	}
	if !now.Before(l.Expires) {
		return ApprovalLink{}, fmt.Errorf("this approval link expired at %s, the gate's deadline", l.Expires.Format(time.RFC3339))
	}
	return l, nil
}

// SignWithNonce is Sign with a given nonce, so a decision made through an approval link
// uses up the link: a second decision with it is refused as used before.
func (k *DecisionKeys) SignWithNonce(workflowID string, d AdvanceRequest, nonce string, now time.Time) AdvanceRequest {
	d.Nonce = nonce
	d.Expires = now.UTC().Add(DecisionTTL)
	d.KeyID = k.keys[0].id
	d.Signature = d.mac(k.keys[0].secret, workflowID)
	return d
}

// FormToken is the anti-forgery value of the approval page's form for a link token.
func (k *DecisionKeys) FormToken(linkToken string) string {
	h := hmac.New(sha256.New, k.keys[0].secret)
	h.Write([]byte("flowgate-approval-form-v1\n" + linkToken))
	return hex.EncodeToString(h.Sum(nil))
}
