package main

import (
	"bytes"
	"encoding/base64"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// sopsCLI is the real sops, which must open every Secret tlsgen encrypts.
func sopsCLI(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("TLSGEN_SOPS"), filepath.Join(os.Getenv("HOME"), ".cache/tlsgen/bin/sops")} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	p, err := exec.LookPath("sops")
	if err != nil {
		t.Fatal("the sops CLI is missing: run internal/sops/install-tools.sh (.ci/run does)")
	}
	return p
}

// identityFile makes an age identity, writes it to dir and returns the
// file and its recipient.
func identityFile(t *testing.T, dir, name string) (file, recipient string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(dir, name)
	if err := os.WriteFile(file, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, id.Recipient().String()
}

// sopsDecrypt runs `sops -d` on a Secret file with one identity.
func sopsDecrypt(t *testing.T, sops, identity, file string, stdin []byte) []byte {
	t.Helper()
	args := []string{"-d", file}
	if stdin != nil {
		args = []string{"-d", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"}
	}
	cmd := exec.Command(sops, args...)
	cmd.Env = append(os.Environ(), "SOPS_AGE_KEY_FILE="+identity)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sops -d %s: %v\n%s", file, err, stderr.String())
	}
	return out
}

// checkNoPlaintextKey fails when a file under dir holds a private key in
// the clear, as PEM or as base64 of PEM, in any value of any Secret.
func checkNoPlaintextKey(t *testing.T, dir string) {
	t.Helper()
	for p, data := range snapshot(t, dir) {
		if strings.Contains(data, "PRIVATE KEY") {
			t.Errorf("%s holds a private key in plaintext", p)
		}
		var s corev1.Secret
		if strings.HasSuffix(p, ".yaml") && yaml.Unmarshal([]byte(data), &s) == nil {
			for k, v := range s.Data {
				if bytes.Contains(v, []byte("PRIVATE KEY")) {
					t.Errorf("%s: %s holds a private key in base64", p, k)
				}
			}
		}
		for _, line := range strings.Fields(data) {
			if raw, err := base64.StdEncoding.DecodeString(strings.Trim(line, `"'`)); err == nil && bytes.Contains(raw, []byte("PRIVATE KEY")) {
				t.Errorf("%s holds a private key in base64", p)
			}
		}
	}
}

// TestEncryptedOverlay is issue 8 end to end, for the example (RSA, shared)
// and a perDatabase case (ECDSA), each encrypted for two recipients.
func TestEncryptedOverlay(t *testing.T) {
	sops := sopsCLI(t)
	cases := []struct {
		name  string
		write func(t *testing.T, dir string, recipients []string)
	}{
		{"the example", func(t *testing.T, dir string, recipients []string) {
			if err := os.CopyFS(filepath.Join(dir, "base"), os.DirFS("../../examples/base")); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile("../../examples/inventory.yaml")
			if err != nil {
				t.Fatal(err)
			}
			data = append(data, []byte("encryption:\n  age: ["+strings.Join(recipients, ", ")+"]\n")...)
			if err := os.WriteFile(filepath.Join(dir, "inventory.yaml"), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"a certificate per database", func(t *testing.T, dir string, recipients []string) {
			writeProject(t, dir, gen.PerDatabase(), gen.With(func(inv *model.Inventory) {
				inv.Encryption = &model.Encryption{Age: recipients}
			}))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SOPS_AGE_KEY_FILE", "")
			t.Setenv("SOPS_AGE_KEY", "")
			dir, keys := t.TempDir(), t.TempDir()
			alice, aliceR := identityFile(t, keys, "alice.txt")
			flux, fluxR := identityFile(t, keys, "flux.txt")
			tc.write(t, dir, []string{aliceR, fluxR})
			out, tls := filepath.Join(dir, "out"), filepath.Join(dir, "tls")

			// The first render makes every key: it needs no identity.
			if code, stderr := renderIn(dir); code != 0 {
				t.Fatalf("render: exit %d: %s", code, stderr)
			}
			checkNoPlaintextKey(t, dir)
			caPEM, err := os.ReadFile(filepath.Join(tls, pki.CACertFile))
			if err != nil {
				t.Fatal(err)
			}
			ca, err := pki.ParseCerts(caPEM)
			if err != nil {
				t.Fatal(err)
			}
			tree := snapshot(t, out)
			decrypted := map[string]corev1.Secret{}
			for p := range tree {
				if !strings.HasPrefix(p, "secrets/") {
					continue
				}
				plain := sopsDecrypt(t, sops, alice, filepath.Join(out, p), nil)
				if !bytes.Equal(plain, sopsDecrypt(t, sops, flux, filepath.Join(out, p), nil)) {
					t.Errorf("%s: the two identities decrypt it differently", p)
				}
				var s corev1.Secret
				if err := yaml.UnmarshalStrict(plain, &s); err != nil {
					t.Fatalf("%s decrypted: %v", p, err)
				}
				decrypted[s.Name] = s
				var certPEM, keyPEM []byte
				for k, v := range s.Data {
					switch {
					case strings.HasSuffix(k, "-key.pem"):
						keyPEM = v
					case strings.HasSuffix(k, "-cert.pem") && k != "ca-cert.pem":
						certPEM = v
					}
				}
				c, err := pki.ParseCerts(certPEM)
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				key, err := pki.ParseKey(keyPEM)
				if err != nil || !pki.Matches(key, c[0].PublicKey) || c[0].CheckSignatureFrom(ca[0]) != nil {
					t.Errorf("%s: the key does not match the certificate, or the certificate does not chain to the CA (%v)", p, err)
				}
			}
			if len(decrypted) == 0 {
				t.Fatal("no Secrets in the overlay")
			}

			// kustomize builds it, and the MAC survives: sops decrypts a built
			// Secret, as Flux does.
			built, err := exec.Command("kubectl", "kustomize", out).Output()
			if err != nil {
				t.Fatalf("kubectl kustomize: %v", err)
			}
			for _, doc := range strings.Split(string(built), "\n---\n") {
				if strings.Contains(doc, "\nkind: Secret\n") && strings.Contains(doc, "\nsops:\n") {
					sopsDecrypt(t, sops, flux, "", []byte(doc))
					break
				}
			}

			// Nothing changed: byte for byte the same, without an identity and
			// with one.
			pkiBefore := snapshot(t, tls)
			for _, identity := range []string{"", alice} {
				t.Setenv("SOPS_AGE_KEY_FILE", identity)
				if code, stderr := renderIn(dir); code != 0 || !strings.Contains(stderr, " 0 changed, 0 removed") {
					t.Fatalf("re-render with identity %q: exit %d: %s", identity, code, stderr)
				}
				if !maps.Equal(snapshot(t, out), tree) || !maps.Equal(snapshot(t, tls), pkiBefore) {
					t.Fatalf("re-render with identity %q changed files", identity)
				}
			}

			// A due certificate without the identity: exit 2, nothing written.
			t.Setenv("SOPS_AGE_KEY_FILE", "")
			due := time.Now().AddDate(0, 0, 3*365-30).Format(time.DateOnly)
			code, stderr := renderIn(dir, "--at", due)
			if code != exitInvalid || !strings.Contains(stderr, "ca/ca-key.pem.age: signing a new certificate for ") || !strings.Contains(stderr, "needs this key: no age identity was given to decrypt it") || !strings.Contains(stderr, "SOPS_AGE_KEY_FILE") {
				t.Fatalf("due without the identity: exit %d: %s", code, stderr)
			}
			if !maps.Equal(snapshot(t, out), tree) || !maps.Equal(snapshot(t, tls), pkiBefore) {
				t.Fatal("a render that stopped for the identity changed files")
			}
			// An identity that is not a recipient is no better.
			stranger, _ := identityFile(t, keys, "stranger.txt")
			t.Setenv("SOPS_AGE_KEY_FILE", stranger)
			if code, stderr := renderIn(dir, "--at", due); code != exitInvalid || !strings.Contains(stderr, "the age identity given is not one of its recipients") {
				t.Fatalf("due with a stranger's identity: exit %d: %s", code, stderr)
			}

			// The decrypted Secrets are what the plaintext mode renders, but
			// for the namespace an encrypted one states.
			t.Setenv("SOPS_AGE_KEY_FILE", alice)
			if err := os.CopyFS(filepath.Join(dir, "tls-plain"), os.DirFS(tls)); err != nil {
				t.Fatal(err)
			}
			inv, err := os.ReadFile(filepath.Join(dir, "inventory.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			plainInv := filepath.Join(dir, "plain.yaml")
			if err := os.WriteFile(plainInv, withoutEncryption(inv), 0o644); err != nil {
				t.Fatal(err)
			}
			var o, e bytes.Buffer
			if code := run([]string{"render", "-f", plainInv, "--pki", filepath.Join(dir, "tls-plain"), "-o", filepath.Join(dir, "out-plain")}, &o, &e); code != 0 {
				t.Fatalf("plaintext render: exit %d: %s", code, e.String())
			}
			if !strings.Contains(e.String(), "decrypted ca: encryption is off: the key is now stored in plaintext") {
				t.Errorf("turning encryption off does not say the keys are plaintext:\n%s", e.String())
			}
			for name, s := range decrypted {
				var want corev1.Secret
				data, err := os.ReadFile(filepath.Join(dir, "out-plain", "secrets", name+".yaml"))
				if err != nil {
					t.Fatal(err)
				}
				if err := yaml.UnmarshalStrict(data, &want); err != nil {
					t.Fatal(err)
				}
				s.Namespace = ""
				if !maps.EqualFunc(s.Data, want.Data, bytes.Equal) || !maps.Equal(s.Annotations, want.Annotations) || !maps.Equal(s.Labels, want.Labels) || s.Name != want.Name || s.Type != want.Type {
					t.Errorf("Secret %s decrypted differs from the plaintext render", name)
				}
			}

			// A Secret tampered with is written anew when the identity can
			// tell, and then decrypts cleanly.
			victim := ""
			for p := range tree {
				if strings.HasPrefix(p, "secrets/") {
					victim = p
					break
				}
			}
			data := []byte(tree[victim])
			j := bytes.Index(data, []byte("ENC[AES256_GCM,data:")) + len("ENC[AES256_GCM,data:")
			data[j] ^= 1
			if err := os.WriteFile(filepath.Join(out, victim), data, 0o600); err != nil {
				t.Fatal(err)
			}
			if code, stderr := renderIn(dir); code != 0 || !strings.Contains(stderr, " 1 changed, 0 removed") {
				t.Fatalf("render over a tampered Secret: exit %d: %s", code, stderr)
			}
			sopsDecrypt(t, sops, flux, filepath.Join(out, victim), nil)
			checkNoPlaintextKey(t, out)

			// A new recipient: every key and Secret is encrypted anew for the
			// new list, which needs the identity; then the newcomer decrypts.
			bob, bobR := identityFile(t, keys, "bob.txt")
			invData, err := os.ReadFile(filepath.Join(dir, "inventory.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			invData = append(withoutEncryption(invData), []byte("encryption:\n  age: ["+aliceR+", "+fluxR+", "+bobR+"]\n")...)
			if err := os.WriteFile(filepath.Join(dir, "inventory.yaml"), invData, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Setenv("SOPS_AGE_KEY_FILE", "")
			if code, stderr := renderIn(dir); code != exitInvalid || !strings.Contains(stderr, "re-encrypting the key of ca (encryption.age changed) needs this key: no age identity was given") {
				t.Fatalf("new recipients without the identity: exit %d: %s", code, stderr)
			}
			t.Setenv("SOPS_AGE_KEY_FILE", alice)
			code, stderr = renderIn(dir)
			if code != 0 || !strings.Contains(stderr, "re-encrypted ca: encryption.age changed") {
				t.Fatalf("new recipients: exit %d: %s", code, stderr)
			}
			for p := range snapshot(t, out) {
				if strings.HasPrefix(p, "secrets/") {
					sopsDecrypt(t, sops, bob, filepath.Join(out, p), nil)
				}
			}
			if cmd := exec.Command("age", "-d", "-i", bob, filepath.Join(tls, "ca/ca-key.pem.age")); cmd.Run() != nil {
				t.Error("age -d with the new recipient's identity does not open the CA key")
			}
			checkNoPlaintextKey(t, out)
			checkNoPlaintextKey(t, tls)

			// A sealed key that is not an age file is named, and nothing is
			// written.
			tree, pkiBefore = snapshot(t, out), snapshot(t, tls)
			if err := os.WriteFile(filepath.Join(tls, "redis/redis-key.pem.age"), []byte("-----BEGIN AGE ENCRYPTED FILE-----\nnot age\n-----END AGE ENCRYPTED FILE-----\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			pkiBefore["redis/redis-key.pem.age"] = "-----BEGIN AGE ENCRYPTED FILE-----\nnot age\n-----END AGE ENCRYPTED FILE-----\n"
			if code, stderr := renderIn(dir); code != exitInvalid || !strings.Contains(stderr, "tlsgen: error: "+filepath.Join(tls, "redis/redis-key.pem.age")+": age: ") {
				t.Fatalf("a corrupt sealed key: exit %d: %s", code, stderr)
			}
			if !maps.Equal(snapshot(t, out), tree) || !maps.Equal(snapshot(t, tls), pkiBefore) {
				t.Fatal("a render that stopped on a corrupt key changed files")
			}
		})
	}
}

// withoutEncryption drops the encryption block from an inventory.
func withoutEncryption(inv []byte) []byte {
	var out []string
	in := false
	for _, line := range strings.SplitAfter(string(inv), "\n") {
		switch {
		case strings.HasPrefix(line, "encryption:"):
			in = true
			continue
		case in && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "-")):
			continue
		}
		in = false
		out = append(out, line)
	}
	return []byte(strings.Join(out, ""))
}
