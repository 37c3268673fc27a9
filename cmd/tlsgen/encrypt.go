package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/bakery-ia/tlsgen/internal/sops"
	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	"github.com/bakery-ia/tlsgen/pkg/render"
	"sigs.k8s.io/yaml"
)

// identityHint says where the age identity comes from, as sops looks for it.
const identityHint = "set SOPS_AGE_KEY_FILE to your age identity file (or SOPS_AGE_KEY to the key itself), or pass --age-identity FILE"

// identityError is a sealed key that no identity at hand opens: none was
// given, the one given cannot be read, or it is not a recipient. pki then
// leaves the key closed, and stops only when it needs it.
type identityError struct{ msg string }

func (e *identityError) Error() string        { return e.msg }
func (e *identityError) Is(target error) bool { return target == pki.ErrNoIdentity }

// errNoIdentity is a render that needs a private key with no identity given.
var errNoIdentity = &identityError{"no age identity was given"}

// keyring is the age identity, read the first time a sealed key must be
// opened: a render that needs no private key needs no identity, so
// pull-request CI can render with no secret at all.
type keyring struct {
	file string // --age-identity
	once sync.Once
	ids  []age.Identity
	err  error
}

// identities returns the identities from --age-identity, SOPS_AGE_KEY_FILE
// or SOPS_AGE_KEY, in that order, or errNoIdentity.
func (k *keyring) identities() ([]age.Identity, error) {
	k.once.Do(func() {
		var data []byte
		var from string
		switch {
		case k.file != "":
			from = "--age-identity " + k.file
			data, k.err = os.ReadFile(k.file)
		case os.Getenv("SOPS_AGE_KEY_FILE") != "":
			from = "SOPS_AGE_KEY_FILE=" + os.Getenv("SOPS_AGE_KEY_FILE")
			data, k.err = os.ReadFile(os.Getenv("SOPS_AGE_KEY_FILE"))
		case os.Getenv("SOPS_AGE_KEY") != "":
			from, data = "SOPS_AGE_KEY", []byte(os.Getenv("SOPS_AGE_KEY"))
		default:
			k.err = errNoIdentity
			return
		}
		if k.err == nil {
			k.ids, k.err = sops.ParseIdentities(data)
		}
		if k.err != nil {
			k.err = &identityError{fmt.Sprintf("%s: %v", from, k.err)}
		}
	})
	return k.ids, k.err
}

// open decrypts a sealed key, as pki.Options.Open: an identity that does
// not open it is no identity for it.
func (k *keyring) open(sealed []byte) ([]byte, error) {
	ids, err := k.identities()
	if err != nil {
		return nil, err
	}
	key, err := sops.DecryptFile(sealed, ids)
	if errors.Is(err, sops.ErrNoIdentity) {
		return nil, &identityError{"the age identity given is not one of its recipients"}
	}
	return key, err
}

// pkiOptions keeps the PKI directory's keys as the inventory says: sealed
// for its age recipients, or in plaintext. A sealed key can be opened
// either way, so that turning encryption off works.
func pkiOptions(inv *model.Inventory, keys *keyring) (pki.Options, error) {
	o := pki.Options{Open: keys.open}
	if inv.Encryption == nil {
		return o, nil
	}
	rs, err := sops.ParseRecipients(inv.Encryption.Age)
	if err != nil {
		return o, err // the inventory's validation let a recipient through
	}
	o.Recipients = inv.Encryption.Age
	o.Seal = func(keyPEM []byte) ([]byte, error) { return sops.EncryptFile(keyPEM, rs) }
	return o, nil
}

// lockedError turns work that needs a sealed key into invalid input: the
// identity is missing or wrong, and the message says where it comes from.
func lockedError(pkiDir string, err error) error {
	var le *pki.LockedError
	if !errors.As(err, &le) {
		return err
	}
	return &inputError{err: fmt.Errorf("%s: %s needs this key: %s", filepath.Join(pkiDir, le.Path), le.Reason, noKey(le.Err)), hint: identityHint}
}

// noKey says why a sealed key could not be opened.
func noKey(err error) string {
	if errors.Is(err, errNoIdentity) {
		return "no age identity was given to decrypt it"
	}
	return fmt.Sprintf("it could not be decrypted: %v", err)
}

// sealSecrets replaces every Secret of tree with its SOPS document for the
// recipients. A Secret whose plaintext did not change keeps the document
// prev holds for it byte for byte: SOPS ciphertext is random, and a
// re-render must not churn every file. What did not change is judged by
// the readable part (the checksum annotation covers the certificate and
// the CA) and the recipients, and, when an identity is at hand, by
// decrypting, which also catches a document tampered with.
func sealSecrets(tree render.Tree, prev func(path string) []byte, recipients []string, keys *keyring, now time.Time) error {
	for i := range tree {
		f := &tree[i]
		if !f.Private {
			continue
		}
		if old := prev(f.Path); old != nil && unchanged(old, f, recipients, keys) {
			f.Data = old
			continue
		}
		if f.KeyMissing {
			return &inputError{err: fmt.Errorf("%s: its content changed, and encrypting it anew needs its private key: %s", f.Path, noKey(f.KeyErr)), hint: identityHint}
		}
		enc, err := sops.EncryptSecret(f.Data, recipients, now)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		f.Data = enc
	}
	return nil
}

// unchanged reports whether old, the SOPS document the overlay holds, is f
// encrypted for recipients.
func unchanged(old []byte, f *render.File, recipients []string, keys *keyring) bool {
	var was, now map[string]any
	if yaml.Unmarshal(old, &was) != nil || yaml.Unmarshal(f.Data, &now) != nil {
		return false
	}
	meta, ok := was["sops"].(map[string]any)
	if !ok || meta["encrypted_regex"] != sops.EncryptedRegex || meta["mac_only_encrypted"] != true {
		return false
	}
	var had []string
	ages, _ := meta["age"].([]any)
	for _, a := range ages {
		if m, ok := a.(map[string]any); ok {
			r, _ := m["recipient"].(string)
			had = append(had, r)
		}
	}
	want := slices.Clone(recipients)
	slices.Sort(had)
	slices.Sort(want)
	if !slices.Equal(had, want) {
		return false
	}
	delete(was, "sops")
	if !sameReadable(was, now) {
		return false
	}
	ids, err := keys.identities()
	if err != nil {
		return true // no identity: the readable part is all there is to judge
	}
	plain, err := sops.DecryptSecret(old, ids)
	if err != nil {
		return false // tampered, or not for this identity: write it anew
	}
	if f.KeyMissing {
		return true
	}
	var dec map[string]any
	return yaml.Unmarshal(plain, &dec) == nil && reflect.DeepEqual(dec["data"], now["data"])
}

// sameReadable compares two Secrets but for the values of their data.
func sameReadable(a, b map[string]any) bool {
	blank := func(m map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		if data, ok := m["data"].(map[string]any); ok {
			keys := map[string]any{}
			for k := range data {
				keys[k] = ""
			}
			out["data"] = keys
		}
		return out
	}
	return reflect.DeepEqual(blank(a), blank(b))
}
