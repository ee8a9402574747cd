package dutydesk

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SecretPrefix starts a Standard Webhooks secret: "whsec_" + base64(key).
const SecretPrefix = "whsec_"

// DecodeSecret returns the signing key of a Standard Webhooks secret:
// the base64-decoded part after "whsec_" (a secret without the prefix is
// taken as bare base64). The error never repeats the secret.
func DecodeSecret(secret string) ([]byte, error) {
	s := strings.TrimPrefix(secret, SecretPrefix)
	if s == "" {
		return nil, errors.New("decode webhook secret: empty")
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, errors.New(`decode webhook secret: want "whsec_" followed by base64`)
	}
	if len(key) == 0 {
		return nil, errors.New("decode webhook secret: empty key")
	}
	return key, nil
}

// MinKeyLen is the shortest signing key accepted, in bytes: the Standard
// Webhooks specification asks for keys of 24 to 64 bytes, and a short key
// lets anyone who sees a few signed messages forge alarms.
const MinKeyLen = 24

// ErrShortKey is returned (wrapped) by CheckSecret for a key shorter than
// MinKeyLen.
var ErrShortKey = errors.New("webhook secret too short")

// CheckSecret reports whether secret can sign: it decodes (DecodeSecret) to
// a key of at least MinKeyLen bytes. The error never repeats the secret.
func CheckSecret(secret string) error {
	_, err := signingKey(secret)
	return err
}

// signingKey is DecodeSecret that also refuses a short key.
func signingKey(secret string) ([]byte, error) {
	key, err := DecodeSecret(secret)
	if err != nil {
		return nil, err
	}
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("%w: the key is %d bytes after base64-decoding, want at least %d (e.g. \"whsec_\" + the output of `openssl rand -base64 32`)", ErrShortKey, len(key), MinKeyLen)
	}
	return key, nil
}

// Sign returns the webhook-signature header value for a message:
// "v1," + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}
