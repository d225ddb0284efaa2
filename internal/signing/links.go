package signing

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Link is what an approval link grants: one approver may decide one gate of one
// run once (Nonce) until Expires. The same signed form is an inbox session (no
// WorkflowID).
type Link struct {
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

// SignLink returns the token of l, valid until l.Expires, with a fresh nonce and the
// first key: base64url(claims) "." base64url(HMAC).
func (k *Keys) SignLink(l Link) (string, error) {
	var err error
	if l.Nonce, err = newNonce(); err != nil {
		return "", err
	}
	l.Expires, l.KeyID = l.Expires.UTC(), k.keys[0].id
	payload, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	return k.seal(labelLink, payload), nil
}

// VerifyLink checks a link token's signature and expiry and returns what it grants.
func (k *Keys) VerifyLink(token string, now time.Time) (Link, error) {
	payload, sig, ok := unseal(token)
	if !ok {
		return Link{}, errors.New("this is not an approval link Flowgate made (it may be cut short: open the whole link)")
	}
	var l Link
	if err := json.Unmarshal(payload, &l); err != nil {
		return Link{}, errors.New("this is not an approval link Flowgate made")
	}
	if !k.signedBy(l.KeyID, labelLink, payload, sig) {
		return Link{}, errors.New("this approval link is not valid: it was altered, or signed with a key this server does not have")
	}
	if !now.Before(l.Expires) {
		return Link{}, fmt.Errorf("this approval link expired at %s, the gate's deadline", l.Expires.Format(time.RFC3339))
	}
	return l, nil
}

// FormToken is the anti-forgery value of the approval page's form for a link token.
func (k *Keys) FormToken(linkToken string) string {
	return hex.EncodeToString(labelMAC(k.keys[0].secret, labelForm, []byte(linkToken)))
}
