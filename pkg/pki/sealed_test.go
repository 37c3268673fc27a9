package pki_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/bakery-ia/tlsgen/pkg/pki"
)

// sealer is a stand-in for age: it seals by encoding, and opens only with
// the identity of the recipients it sealed for.
type sealer struct {
	recipients string // sealed for, as one string
	identity   string // opens what was sealed for it; "" is no identity
}

var errNoIdentity = fmt.Errorf("%w: none given", pki.ErrNoIdentity)

func (s sealer) options() pki.Options {
	o := pki.Options{
		Recipients: strings.Split(s.recipients, ","),
		Seal: func(pem []byte) ([]byte, error) {
			return []byte("SEALED FOR " + s.recipients + "\n" + base64.StdEncoding.EncodeToString(pem)), nil
		},
		Open: func(sealed []byte) ([]byte, error) {
			if s.identity == "" {
				return nil, errNoIdentity
			}
			head, body, _ := bytes.Cut(sealed, []byte("\n"))
			if !strings.Contains(string(head), s.identity) {
				return nil, fmt.Errorf("%w: no identity matched", pki.ErrNoIdentity)
			}
			return base64.StdEncoding.DecodeString(string(body))
		},
	}
	if s.recipients == "" {
		o.Seal, o.Recipients = nil, nil
	}
	return o
}

func reconcileWith(t *testing.T, o pki.Options, fsys fstest.MapFS, reqs []pki.Request, at time.Duration) (*pki.Result, error) {
	t.Helper()
	res, err := o.Reconcile(fsys, caReq(), reqs, t0.Add(at))
	if err == nil {
		apply(fsys, res)
	}
	return res, err
}

// plaintextKeys lists the files of fsys that hold a private key in the
// clear.
func plaintextKeys(fsys fstest.MapFS) []string {
	var out []string
	for p, f := range fsys {
		if bytes.Contains(f.Data, []byte("PRIVATE KEY")) {
			out = append(out, p)
		}
	}
	return out
}

func TestSealedKeys(t *testing.T) {
	reqs := []pki.Request{req("postgres", "db"), req("redis", "redis")}
	alice := sealer{recipients: "alice,flux", identity: "alice"}
	nobody := sealer{recipients: "alice,flux"}

	t.Run("every key is sealed, and a render with nothing due needs no identity", func(t *testing.T) {
		fsys := fstest.MapFS{}
		if _, err := reconcileWith(t, alice.options(), fsys, reqs, 0); err != nil {
			t.Fatal(err)
		}
		if keys := plaintextKeys(fsys); len(keys) > 0 {
			t.Fatalf("plaintext keys: %v", keys)
		}
		for _, p := range []string{"ca/ca-key.pem.age", "postgres/server-key.pem.age", "redis/server-key.pem.age", pki.RecipientsFile} {
			if fsys[p] == nil {
				t.Errorf("%s missing", p)
			}
		}
		res, err := reconcileWith(t, nobody.options(), fsys, reqs, day)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Writes) > 0 || len(res.Events) > 0 {
			t.Errorf("writes %v, events %s", res.Writes, events(res))
		}
		if c := res.Certs["postgres"]; c.KeyPEM != nil || !errors.Is(c.KeyErr, errNoIdentity) {
			t.Errorf("a sealed key without identity: KeyPEM %d bytes, KeyErr %v", len(c.KeyPEM), c.KeyErr)
		}
		// With the identity, the key is at hand to ship.
		res, err = reconcileWith(t, alice.options(), fsys, reqs, day)
		if err != nil || res.Certs["redis"].KeyPEM == nil {
			t.Fatalf("with the identity: %v", err)
		}
	})

	t.Run("a due certificate without the identity stops with the sealed CA key named", func(t *testing.T) {
		fsys := fstest.MapFS{}
		if _, err := reconcileWith(t, alice.options(), fsys, reqs, 0); err != nil {
			t.Fatal(err)
		}
		_, err := reconcileWith(t, nobody.options(), fsys, reqs, 3*365*day)
		var le *pki.LockedError
		if !errors.As(err, &le) || le.Path != "ca/ca-key.pem.age" || !strings.Contains(le.Reason, "signing a new certificate for postgres") {
			t.Fatalf("err = %v, want a LockedError on the CA key", err)
		}
		wrong := sealer{recipients: "alice,flux", identity: "mallory"}
		if _, err := reconcileWith(t, wrong.options(), fsys, reqs, 3*365*day); !errors.As(err, &le) || !strings.Contains(err.Error(), "no identity matched") {
			t.Fatalf("an identity that matches no recipient: %v", err)
		}
	})

	t.Run("turning encryption on seals the same keys, with no identity and nothing re-issued", func(t *testing.T) {
		fsys := fstest.MapFS{}
		if _, err := reconcileWith(t, pki.Options{}, fsys, reqs, 0); err != nil {
			t.Fatal(err)
		}
		cert := string(fsys["postgres/server-cert.pem"].Data)
		res, err := reconcileWith(t, nobody.options(), fsys, reqs, day)
		if err != nil {
			t.Fatal(err)
		}
		if got := events(res); got != "encrypted ca: encryption.age is set\nencrypted postgres: encryption.age is set\nencrypted redis: encryption.age is set" {
			t.Errorf("events: %s", got)
		}
		if keys := plaintextKeys(fsys); len(keys) > 0 || string(fsys["postgres/server-cert.pem"].Data) != cert {
			t.Errorf("plaintext keys %v; certificate kept: %v", keys, string(fsys["postgres/server-cert.pem"].Data) == cert)
		}
	})

	t.Run("new recipients seal every key again, which needs the identity", func(t *testing.T) {
		fsys := fstest.MapFS{}
		if _, err := reconcileWith(t, alice.options(), fsys, reqs, 0); err != nil {
			t.Fatal(err)
		}
		more := sealer{recipients: "alice,bob,flux"}
		var le *pki.LockedError
		if _, err := reconcileWith(t, more.options(), fsys, reqs, day); !errors.As(err, &le) {
			t.Fatalf("without the identity: %v", err)
		}
		more.identity = "alice"
		res, err := reconcileWith(t, more.options(), fsys, reqs, day)
		if err != nil || !strings.Contains(events(res), "re-encrypted ca: encryption.age changed") {
			t.Fatalf("%v: %s", err, events(res))
		}
		if !strings.HasPrefix(string(fsys["redis/server-key.pem.age"].Data), "SEALED FOR alice,bob,flux") || string(fsys[pki.RecipientsFile].Data) != "alice\nbob\nflux\n" {
			t.Errorf("not sealed for the new recipients")
		}
	})

	t.Run("turning encryption off needs the identity and says the keys are plaintext", func(t *testing.T) {
		fsys := fstest.MapFS{}
		if _, err := reconcileWith(t, alice.options(), fsys, reqs, 0); err != nil {
			t.Fatal(err)
		}
		off := sealer{}
		var le *pki.LockedError
		if _, err := reconcileWith(t, off.options(), fsys, reqs, day); !errors.As(err, &le) {
			t.Fatalf("without the identity: %v", err)
		}
		o := off.options()
		o.Open = alice.options().Open
		res, err := reconcileWith(t, o, fsys, reqs, day)
		if err != nil || !strings.Contains(events(res), "decrypted postgres: encryption is off: the key is now stored in plaintext") {
			t.Fatalf("%v: %s", err, events(res))
		}
		if fsys["postgres/server-key.pem.age"] != nil || fsys["postgres/server-key.pem"] == nil || fsys[pki.RecipientsFile] != nil {
			t.Errorf("files: %v", fsys)
		}
	})
}

func TestIsKeyFile(t *testing.T) {
	for name, want := range map[string]bool{
		"ca-key.pem": true, "ca-key.pem.age": true, "server-key.pem": true, "redis-key.pem": true,
		"client-key.pem.age": true, "probe-key.pem": true,
		"ca-cert.pem": false, "server-cert.pem": false, "age-recipients.txt": false, "key.pem": false,
	} {
		if got := pki.IsKeyFile(name); got != want {
			t.Errorf("IsKeyFile(%q) = %v, want %v", name, got, want)
		}
	}
}
