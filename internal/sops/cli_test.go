package sops_test

// These tests hold the package to the real tools: the sops CLI v3.13.3, the
// age CLI, and kustomize as kubectl and Flux's kustomize-controller run it.
// They do not skip when a tool is missing: CI installs them with
// internal/sops/install-tools.sh.

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"
	"go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/bakery-ia/tlsgen/internal/sops"
)

const (
	sopsVersion = "3.13.3"
	installSOPS = "GOBIN=$HOME/.cache/tlsgen/bin go install github.com/getsops/sops/v3/cmd/sops@v" + sopsVersion
)

// findSOPS looks at $TLSGEN_SOPS, then ~/.cache/tlsgen/bin/sops, then PATH,
// and insists on the version whose format the package writes.
var findSOPS = sync.OnceValues(func() (string, error) {
	path := os.Getenv("TLSGEN_SOPS")
	if path == "" {
		if home, err := os.UserHomeDir(); err == nil {
			if p := filepath.Join(home, ".cache", "tlsgen", "bin", "sops"); isExecutable(p) {
				path = p
			}
		}
	}
	if path == "" {
		path, _ = exec.LookPath("sops")
	}
	if path == "" {
		return "", errors.New("sops not found ($TLSGEN_SOPS, ~/.cache/tlsgen/bin/sops, PATH); install it with\n\t" + installSOPS + "\n(or run internal/sops/install-tools.sh)")
	}
	out, err := exec.Command(path, "--version", "--disable-version-check").Output()
	if err != nil {
		return "", errors.New(path + " --version: " + err.Error() + "; install sops with\n\t" + installSOPS)
	}
	if !strings.HasPrefix(string(out), "sops "+sopsVersion+"\n") && !strings.HasPrefix(string(out), "sops "+sopsVersion+" ") {
		return "", errors.New(path + " is " + strings.TrimSpace(string(out)) + ", want sops " + sopsVersion + "; install it with\n\t" + installSOPS)
	}
	return path, nil
})

func sopsCLI(t *testing.T) string {
	t.Helper()
	path, err := findSOPS()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func tool(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found in PATH; install it with\n\t%s", name, install)
	}
	return path
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// run runs a tool in dir with a clean environment: HOME and the XDG
// directories point into the test's temporary directory, so the runner's own
// ~/.config/sops/age/keys.txt plays no part.
func run(t *testing.T, dir string, stdin []byte, env []string, name string, args ...string) ([]byte, string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"XDG_CONFIG_HOME=" + filepath.Join(dir, ".config"),
		"SOPS_DISABLE_VERSION_CHECK=1",
	}, env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.Bytes(), stderr.String(), err
}

func mustRun(t *testing.T, dir string, stdin []byte, env []string, name string, args ...string) []byte {
	t.Helper()
	out, stderr, err := run(t, dir, stdin, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr)
	}
	return out
}

// keyFiles writes each identity as age-keygen would, for SOPS_AGE_KEY_FILE
// and age -i.
func keyFiles(t *testing.T, dir string, ids []*age.X25519Identity) []string {
	t.Helper()
	var paths []string
	for i, id := range ids {
		p := filepath.Join(dir, "key"+string(rune('1'+i))+".txt")
		text := "# public key: " + id.Recipient().String() + "\n" + id.String() + "\n"
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// secretData is the data of a Secret in YAML or JSON.
func secretData(t *testing.T, doc []byte) map[string]any {
	t.Helper()
	var m struct {
		Data map[string]any `yaml:"data" json:"data"`
	}
	if err := yaml.Unmarshal(doc, &m); err != nil {
		t.Fatalf("parsing %s: %v", doc, err)
	}
	return m.Data
}

func TestSOPSCLIDecryptsEncryptSecretWithEitherIdentity(t *testing.T) {
	sopsPath := sopsCLI(t)
	dir := t.TempDir()
	ids, recipients := keys(t)
	plain := readSecret(t)
	enc, err := sops.EncryptSecret(plain, recipients, now)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "secret.yaml"), enc)
	for i, keyFile := range keyFiles(t, dir, ids) {
		out := mustRun(t, dir, nil, []string{"SOPS_AGE_KEY_FILE=" + keyFile}, sopsPath, "-d", "secret.yaml")
		sameDocument(t, out, plain)
		ours, err := sops.DecryptSecret(enc, []age.Identity{ids[i]})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours, out) {
			t.Errorf("identity %d: DecryptSecret and sops -d differ\n--- DecryptSecret\n%s\n--- sops -d\n%s", i+1, ours, out)
		}
	}
}

// The path Flux takes: kustomize sets the namespace and a label on the
// encrypted Secret, then kustomize-controller decrypts the built object. The
// MAC covers only encrypted values, so it survives.
func TestSOPSCLIDecryptsTheSecretKustomizeBuilt(t *testing.T) {
	sopsPath := sopsCLI(t)
	ids, recipients := keys(t)
	plain := readSecret(t)
	enc, err := sops.EncryptSecret(plain, recipients, now)
	if err != nil {
		t.Fatal(err)
	}
	kustomization := []byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: flux-target\ncommonLabels:\n  team: platform\nresources:\n- secret.yaml\n")
	builds := []struct {
		name  string
		build func(t *testing.T, dir string) []byte
	}{
		{"kubectl kustomize", func(t *testing.T, dir string) []byte {
			kubectl := tool(t, "kubectl", "kubectl from https://kubernetes.io/docs/tasks/tools/ (any version with kustomize v5)")
			return mustRun(t, dir, nil, nil, kubectl, "kustomize", ".")
		}},
		{"krusty, which kustomize-controller runs", func(t *testing.T, dir string) []byte {
			fs := filesys.MakeFsInMemory()
			for name, data := range map[string][]byte{"/o/kustomization.yaml": kustomization, "/o/secret.yaml": enc} {
				if err := fs.WriteFile(name, data); err != nil {
					t.Fatal(err)
				}
			}
			m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, "/o")
			if err != nil {
				t.Fatal(err)
			}
			out, err := m.AsYaml()
			if err != nil {
				t.Fatal(err)
			}
			return out
		}},
	}
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "kustomization.yaml"), kustomization)
			writeFile(t, filepath.Join(dir, "secret.yaml"), enc)
			keyFile := keyFiles(t, dir, ids[1:])[0]
			built := b.build(t, dir)
			if !strings.Contains(string(built), "namespace: flux-target") || !strings.Contains(string(built), "team: platform") || !strings.Contains(string(built), "\nsops:\n") {
				t.Fatalf("kustomize did not rewrite the Secret, or dropped the sops block:\n%s", built)
			}
			env := []string{"SOPS_AGE_KEY_FILE=" + keyFile}

			out := mustRun(t, dir, built, env, sopsPath, "-d", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin")
			if got, want := secretData(t, out), secretData(t, plain); !reflect.DeepEqual(got, want) {
				t.Errorf("sops -d of the built Secret: data %v, want %v", got, want)
			}
			if !strings.Contains(string(out), "namespace: flux-target") {
				t.Errorf("sops -d lost kustomize's namespace:\n%s", out)
			}

			// kustomize-controller marshals the resource as JSON, keys
			// sorted, and decrypts that (internal/decryptor/decryptor.go).
			asJSON, err := sigsyaml.YAMLToJSON(built)
			if err != nil {
				t.Fatal(err)
			}
			out = mustRun(t, dir, asJSON, env, sopsPath, "-d", "--input-type", "json", "--output-type", "json", "/dev/stdin")
			var decoded map[string]any
			if err := json.Unmarshal(out, &decoded); err != nil {
				t.Fatal(err)
			}
			if got, want := decoded["data"], any(secretData(t, plain)); !reflect.DeepEqual(got, want) {
				t.Errorf("sops -d of the Secret as JSON: data %v, want %v", got, want)
			}

			ours, err := sops.DecryptSecret(built, []age.Identity{ids[1]})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := secretData(t, ours), secretData(t, plain); !reflect.DeepEqual(got, want) {
				t.Errorf("DecryptSecret of the built Secret: data %v, want %v", got, want)
			}
		})
	}
}

// DecryptSecret reads what the sops CLI writes: with tlsgen's rules, with
// the MAC over every value (sops's default), and with sops's default rule
// (every value encrypted but those under a key ending in _unencrypted).
func TestDecryptSecretOpensWhatSOPSCLIEncrypts(t *testing.T) {
	sopsPath := sopsCLI(t)
	ids, recipients := keys(t)
	noComment := []byte("apiVersion: v1\ndata:\n  a: YQ==\nkind: Secret\nmetadata:\n  name: s\n  port_unencrypted: 5432\n  replicas: 3\n  ratio: 0.5\n  enabled: true\n")
	tests := []struct {
		name     string
		manifest []byte
		flags    []string
	}{
		{"encrypted_regex and mac_only_encrypted, as EncryptSecret writes", readSecret(t), []string{"--encrypted-regex", sops.EncryptedRegex, "--mac-only-encrypted"}},
		{"encrypted_regex with the MAC over every value", readSecret(t), []string{"--encrypted-regex", sops.EncryptedRegex}},
		{"sops's default rule, ints, floats and booleans encrypted", noComment, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "secret.yaml"), tt.manifest)
			args := append([]string{"-e", "--age", strings.Join(recipients, ",")}, tt.flags...)
			enc := mustRun(t, dir, nil, nil, sopsPath, append(args, "secret.yaml")...)
			writeFile(t, filepath.Join(dir, "secret.enc.yaml"), enc)
			for i, keyFile := range keyFiles(t, dir, ids) {
				got, err := sops.DecryptSecret(enc, []age.Identity{ids[i]})
				if err != nil {
					t.Fatalf("identity %d: %v\n%s", i+1, err, enc)
				}
				sameDocument(t, got, tt.manifest)
				want := mustRun(t, dir, nil, []string{"SOPS_AGE_KEY_FILE=" + keyFile}, sopsPath, "-d", "secret.enc.yaml")
				if !bytes.Equal(got, want) {
					t.Errorf("identity %d: DecryptSecret and sops -d differ\n--- DecryptSecret\n%s\n--- sops -d\n%s", i+1, got, want)
				}
			}
		})
	}
}

// sops v3.13.3 reads post-quantum (ML-KEM hybrid) age keys; so does
// EncryptSecret's recipient list.
func TestSOPSCLIDecryptsForAPostQuantumRecipient(t *testing.T) {
	sopsPath := sopsCLI(t)
	dir := t.TempDir()
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	plain := readSecret(t)
	enc, err := sops.EncryptSecret(plain, []string{id.Recipient().String()}, now)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "secret.yaml"), enc)
	keyFile := filepath.Join(dir, "pq.txt")
	writeFile(t, keyFile, []byte(id.String()+"\n"))
	out := mustRun(t, dir, nil, []string{"SOPS_AGE_KEY_FILE=" + keyFile}, sopsPath, "-d", "secret.yaml")
	sameDocument(t, out, plain)
}

// Byte for byte what sops -e writes, once the random parts are masked: the
// same values encrypted, the same indentation and quoting, the same sops
// block; and sops -d of ours is what DecryptSecret writes. (sops keeps the
// key order it is given, EncryptSecret sorts: the manifests here are sorted.)
func TestEncryptSecretWritesWhatSOPSCLIWrites(t *testing.T) {
	sopsPath := sopsCLI(t)
	ids, recipients := keys(t)
	manifests := []struct {
		name     string
		manifest []byte
	}{
		{"a Secret as tlsgen writes it", readSecret(t)},
		{"stringData, an empty value, quoting and a list, keys sorted", []byte("# head\napiVersion: v1\ndata:\n  empty: \"\"\n  x: eA==\nkind: Secret\nmetadata:\n  finalizers:\n  - a\n  - b\n  labels:\n    flag: 'true'\n  name: s\nstringData:\n  multi: |\n    line one\n    line two\n  password: 'p@ss: word'\n")},
	}
	for _, m := range manifests {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "secret.yaml"), m.manifest)
			theirs := mustRun(t, dir, nil, nil, sopsPath, "-e", "--age", strings.Join(recipients, ","),
				"--encrypted-regex", sops.EncryptedRegex, "--mac-only-encrypted", "secret.yaml")
			ours, err := sops.EncryptSecret(m.manifest, recipients, now)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := mask(theirs), mask(ours); a != b {
				t.Errorf("layouts differ (random parts masked)\n--- sops -e\n%s\n--- EncryptSecret\n%s", a, b)
			}
			writeFile(t, filepath.Join(dir, "ours.yaml"), ours)
			dec := mustRun(t, dir, nil, []string{"SOPS_AGE_KEY_FILE=" + keyFiles(t, dir, ids[:1])[0]}, sopsPath, "-d", "ours.yaml")
			sameDocument(t, dec, m.manifest)
			if got, err := sops.DecryptSecret(ours, []age.Identity{ids[0]}); err != nil || !bytes.Equal(got, dec) {
				t.Errorf("DecryptSecret = %v\n%s\n--- sops -d\n%s", err, got, dec)
			}
		})
	}
}

var (
	encValue     = regexp.MustCompile(`ENC\[AES256_GCM,data:([^,]*),iv:[^,]*,tag:[^,]*,type:(\w+)\]`)
	armorLine    = regexp.MustCompile(`(?m)^( +)[A-Za-z0-9+/=]+$`)
	lastModified = regexp.MustCompile(`lastmodified: "[^"]*"`)
)

// mask replaces what is random or time-dependent, keeping lengths of values.
func mask(doc []byte) string {
	s := encValue.ReplaceAllStringFunc(string(doc), func(v string) string {
		m := encValue.FindStringSubmatch(v)
		return "ENC[" + strings.Repeat("x", len(m[1])) + "," + m[2] + "]"
	})
	s = armorLine.ReplaceAllString(s, "${1}<armor>")
	return lastModified.ReplaceAllString(s, `lastmodified: "<time>"`)
}

func TestTamperedDocumentFailsInSOPSCLIAndDecryptSecret(t *testing.T) {
	sopsPath := sopsCLI(t)
	dir := t.TempDir()
	ids, recipients := keys(t)
	enc, err := sops.EncryptSecret(readSecret(t), recipients, now)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"SOPS_AGE_KEY_FILE=" + keyFiles(t, dir, ids[:1])[0]}
	tests := []struct {
		name           string
		doc            string
		sops, ours     string
		sopsMustReject bool
	}{
		{
			name: "one ciphertext changed",
			doc:  regexp.MustCompile(`(server-key\.pem: ENC\[AES256_GCM,data:)(.)`).ReplaceAllStringFunc(string(enc), flipLast),
			sops: "message authentication failed", ours: "data[server-key.pem]: the value fails its AES-GCM tag",
		},
		{
			name: "one value removed",
			doc:  removeLine(t, string(enc), "    server-cert.pem: "),
			sops: "MAC mismatch", ours: "MAC mismatch",
		},
		{
			name: "one value emptied",
			doc:  emptyValue(t, string(enc), "ca-cert.pem"),
			sops: "MAC mismatch", ours: "MAC mismatch",
		},
		{
			name: "two values swapped",
			doc:  swapValues(t, string(enc), "server-cert.pem", "server-key.pem"),
			sops: "message authentication failed", ours: "the value fails its AES-GCM tag",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeFile(t, filepath.Join(dir, "tampered.yaml"), []byte(tt.doc))
			out, stderr, err := run(t, dir, nil, env, sopsPath, "-d", "tampered.yaml")
			if err == nil || !strings.Contains(stderr, tt.sops) {
				t.Errorf("sops -d: err %v, stderr %q, want a failure saying %q\n%s", err, stderr, tt.sops, out)
			}
			_, err = sops.DecryptSecret([]byte(tt.doc), []age.Identity{ids[0]})
			if !errors.Is(err, sops.ErrTampered) || !strings.Contains(err.Error(), tt.ours) {
				t.Errorf("DecryptSecret: err %v, want ErrTampered saying %q", err, tt.ours)
			}
		})
	}
}

func TestAgeCLIOpensEncryptFileAndTheReverse(t *testing.T) {
	ageCLI := tool(t, "age", "apt-get install -y age")
	keygen := tool(t, "age-keygen", "apt-get install -y age")
	dir := t.TempDir()
	ids, recipients := keys(t)
	rs, err := sops.ParseRecipients(recipients)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("-----BEGIN TESTING KEY-----\nfixture key for the PKI directory\n-----END TESTING KEY-----\n")
	enc, err := sops.EncryptFile(plain, rs)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "server-key.pem.age"), enc)
	for _, keyFile := range keyFiles(t, dir, ids) {
		if out := mustRun(t, dir, nil, nil, ageCLI, "-d", "-i", keyFile, "server-key.pem.age"); !bytes.Equal(out, plain) {
			t.Errorf("age -d -i %s: %q, want %q", filepath.Base(keyFile), out, plain)
		}
	}

	// An identity from age-keygen, a file from age -e -a: ParseIdentities
	// and DecryptFile read what the CLI writes.
	mustRun(t, dir, nil, nil, keygen, "-o", "keygen.txt")
	recipient := strings.TrimSpace(string(mustRun(t, dir, nil, nil, keygen, "-y", "keygen.txt")))
	writeFile(t, filepath.Join(dir, "plain.pem"), plain)
	mustRun(t, dir, nil, nil, ageCLI, "-e", "-a", "-r", recipient, "-o", "cli.age", "plain.pem")
	mustRun(t, dir, nil, nil, ageCLI, "-e", "-r", recipient, "-o", "cli.bin.age", "plain.pem")
	keygenFile, err := os.ReadFile(filepath.Join(dir, "keygen.txt"))
	if err != nil {
		t.Fatal(err)
	}
	cliIDs, err := sops.ParseIdentities(keygenFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cli.age", "cli.bin.age"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := sops.DecryptFile(data, cliIDs); err != nil || !bytes.Equal(got, plain) {
			t.Errorf("DecryptFile(%s) = %q, %v", name, got, err)
		}
	}
}
