package signing

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flowgate/flowgate/workflows"
)

// macPrefix marks a decision signature of the current form (macV2).
const macPrefix = "v2."

// mac is the signature of a decision on a run: an HMAC over every field the decision
// says, each preceded by its length, so no value can move a boundary between fields.
func mac(d workflows.AdvanceRequest, secret []byte, workflowID string) string {
	h := hmac.New(sha256.New, secret)
	for _, f := range macFields(d, workflowID, "flowgate-decision-v2") {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return macPrefix + hex.EncodeToString(h.Sum(nil))
}

// macV1 is the signature servers made before mac: the fields joined by newlines. It is
// still checked for decisions signed by an older MCP server (they expire in TTL),
// but only when no field holds a newline, where the join is unambiguous.
func macV1(d workflows.AdvanceRequest, secret []byte, workflowID string) (string, bool) {
	fields := macFields(d, workflowID, "flowgate-decision-v1")
	if slices.ContainsFunc(fields, func(f string) bool { return strings.Contains(f, "\n") }) {
		return "", false
	}
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(strings.Join(fields, "\n")))
	return hex.EncodeToString(h.Sum(nil)), true
}

func macFields(d workflows.AdvanceRequest, workflowID, version string) []string {
	scopes := slices.Clone(d.Scopes)
	slices.Sort(scopes)
	comment := sha256.Sum256([]byte(d.Comment))
	fields := []string{version, workflowID, d.Step, string(d.Action), d.Actor,
		strings.Join(scopes, " "), fmt.Sprint(d.AllScopes), hex.EncodeToString(comment[:]),
		d.Nonce, d.Expires.UTC().Format(time.RFC3339Nano)}
	// A decision without inputs or parameters signs as it did before they existed; one
	// with them signs them too (encoding/json writes a map's keys sorted, so both ends
	// agree).
	for _, v := range []struct {
		name   string
		values map[string]any
	}{{"inputs", d.Inputs}, {"parameters", d.Parameters}} {
		if len(v.values) == 0 {
			continue
		}
		raw, err := json.Marshal(v.values)
		if err != nil {
			raw = []byte("unencodable")
		}
		sum := sha256.Sum256(raw)
		fields = append(fields, v.name, hex.EncodeToString(sum[:]))
	}
	if to := d.Reassign; to != nil {
		raw, _ := json.Marshal(to)
		sum := sha256.Sum256(raw)
		fields = append(fields, "reassign", hex.EncodeToString(sum[:]))
	}
	return fields
}

// signedBy tells whether sig is d's signature on workflowID with secret, in either form.
func signedBy(d workflows.AdvanceRequest, secret []byte, workflowID, sig string) bool {
	if strings.HasPrefix(sig, macPrefix) {
		return hmac.Equal([]byte(mac(d, secret, workflowID)), []byte(sig))
	}
	want, ok := macV1(d, secret, workflowID)
	return ok && hmac.Equal([]byte(want), []byte(sig))
}

// Sign signs a decision on a run with the first key: a fresh nonce, an expiry TTL
// from now, the key id and the signature over everything the decision says.
func (k *Keys) Sign(workflowID string, d workflows.AdvanceRequest, now time.Time) (workflows.AdvanceRequest, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return d, err
	}
	d.Nonce = hex.EncodeToString(nonce)
	d.Expires = now.UTC().Add(TTL)
	d.KeyID = k.keys[0].id
	d.Signature = mac(d, k.keys[0].secret, workflowID)
	return d, nil
}

// Verify checks a decision's signature, expiry and key: the workflows' Verifier.
func (k *Keys) Verify(workflowID string, d workflows.AdvanceRequest, now time.Time) error {
	if d.Signature == "" {
		return errors.New("this run accepts only decisions whose identity Flowgate verified (advance_workflow through the MCP server); an unsigned decision is refused")
	}
	i := slices.IndexFunc(k.keys, func(x key) bool { return x.id == d.KeyID })
	if i < 0 {
		return fmt.Errorf("the decision is signed with key %q, which this worker does not have; the decision is refused", d.KeyID)
	}
	if !signedBy(d, k.keys[i].secret, workflowID, d.Signature) {
		return errors.New("the decision's signature does not match what it says (altered or forged); it is refused")
	}
	if !now.Before(d.Expires) {
		return fmt.Errorf("the signed decision expired at %s; decide again", d.Expires.Format(time.RFC3339))
	}
	return nil
}

// SignWithNonce is Sign with a given nonce, so a decision made through an approval link
// uses up the link: a second decision with it is refused as used before.
func (k *Keys) SignWithNonce(workflowID string, d workflows.AdvanceRequest, nonce string, now time.Time) workflows.AdvanceRequest {
	d.Nonce = nonce
	d.Expires = now.UTC().Add(TTL)
	d.KeyID = k.keys[0].id
	d.Signature = mac(d, k.keys[0].secret, workflowID)
	return d
}
