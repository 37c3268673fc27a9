package main

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/internal/store"
	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// faultFS stops the writer at its Nth operation: as a kill (that operation
// and every later one fail, so nothing is cleaned up, as after SIGKILL), or
// as a full disk (the Nth file write fails with ENOSPC, the rest work).
type faultFS struct {
	store.FS
	at      int  // the operation that fails, from 1
	enospc  bool // count file writes only, and fail with ENOSPC
	mu      sync.Mutex
	n       int
	stopped bool
}

var errKilled = errors.New("killed")

func (f *faultFS) step(write bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return errKilled
	}
	if f.enospc && !write {
		return nil
	}
	f.n++
	if f.n != f.at {
		return nil
	}
	if f.enospc {
		return syscall.ENOSPC
	}
	f.stopped = true
	return errKilled
}

// reached reports whether the writer got as far as the failing operation.
func (f *faultFS) reached() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n >= f.at
}

func (f *faultFS) WriteFile(name string, data []byte, perm fs.FileMode) error {
	if err := f.step(true); err != nil {
		return err
	}
	return f.FS.WriteFile(name, data, perm)
}
func (f *faultFS) Mkdir(name string, perm fs.FileMode) error {
	if err := f.step(false); err != nil {
		return err
	}
	return f.FS.Mkdir(name, perm)
}
func (f *faultFS) Rename(a, b string) error {
	if err := f.step(false); err != nil {
		return err
	}
	return f.FS.Rename(a, b)
}
func (f *faultFS) Exchange(a, b string) error {
	if err := f.step(false); err != nil {
		return err
	}
	return f.FS.Exchange(a, b)
}
func (f *faultFS) Link(a, b string) error {
	if err := f.step(false); err != nil {
		return err
	}
	return f.FS.Link(a, b)
}
func (f *faultFS) Remove(name string) error {
	if err := f.step(false); err != nil {
		return err
	}
	return f.FS.Remove(name)
}
func (f *faultFS) RemoveAll(name string) error {
	if err := f.step(false); err != nil {
		return err
	}
	return f.FS.RemoveAll(name)
}
func (f *faultFS) Chmod(name string, mode fs.FileMode) error {
	if err := f.step(false); err != nil {
		return err
	}
	return f.FS.Chmod(name, mode)
}
func (f *faultFS) SyncFS(dir string) error {
	if err := f.step(false); err != nil {
		return err
	}
	return f.FS.SyncFS(dir)
}
func (f *faultFS) SyncDir(name string) error {
	if err := f.step(false); err != nil {
		return err
	}
	return f.FS.SyncDir(name)
}

// noExchange is a file system without RENAME_EXCHANGE: the overlay is
// swapped with two renames.
type noExchange struct{ store.FS }

func (noExchange) Exchange(a, b string) error { return errors.ErrUnsupported }

// renewAll changes the inventory so that the next render renews every
// server certificate: another key type.
func renewAll(t *testing.T, dir string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "inventory.yaml"), gen.YAML(gen.Keys(model.ECDSAP384)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// snapshot reads every regular file under dir, by slash path.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := store.ReadTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(files))
	for p, data := range files {
		out[p] = string(data)
	}
	return out
}

func renderIn(dir string, args ...string) (int, string) {
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"render", "-f", filepath.Join(dir, "inventory.yaml"), "-o", filepath.Join(dir, "out")}, args...), &stdout, &stderr)
	return code, stderr.String()
}

// pairs are the certificate and key files of the test project's PKI.
var pairs = [][2]string{
	{pki.CACertFile, pki.CAKeyFile},
	{"postgres/server-cert.pem", "postgres/server-key.pem"},
	{"redis/redis-cert.pem", "redis/redis-key.pem"},
}

// checkPairs fails unless every key of the PKI snapshot matches its
// certificate, and every certificate is signed by the CA.
func checkPairs(t *testing.T, files map[string]string) {
	t.Helper()
	var ca *x509.Certificate
	for _, p := range pairs {
		certs, err := pki.ParseCerts([]byte(files[p[0]]))
		if err != nil {
			t.Fatalf("%s: %v", p[0], err)
		}
		key, err := pki.ParseKey([]byte(files[p[1]]))
		if err != nil {
			t.Fatalf("%s: %v", p[1], err)
		}
		if !pki.Matches(key, certs[0].PublicKey) {
			t.Fatalf("%s does not match %s", p[1], p[0])
		}
		if ca == nil {
			ca = certs[0]
		} else if err := certs[0].CheckSignatureFrom(ca); err != nil {
			t.Fatalf("%s is not signed by the CA: %v", p[0], err)
		}
	}
}

// secrets decodes the overlay's Secrets: name -> key -> value.
func secrets(t *testing.T, tree map[string]string) map[string]map[string][]byte {
	t.Helper()
	out := map[string]map[string][]byte{}
	for p, data := range tree {
		if !strings.HasPrefix(p, "secrets/") {
			continue
		}
		var s corev1.Secret
		if err := yaml.UnmarshalStrict([]byte(data), &s); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[s.Name] = s.Data
	}
	return out
}

// checkTree fails unless the overlay is whole (every file its kustomization
// lists is there) and its Secrets ship matching pairs signed by the CA in
// the bundle; it returns whether it ships the same keys as old.
func checkTree(t *testing.T, tree, old map[string]string) (same bool) {
	t.Helper()
	k := tree["kustomization.yaml"]
	for p := range tree {
		if p != "kustomization.yaml" && !strings.Contains(k, p) {
			t.Fatalf("overlay: %s is not in kustomization.yaml", p)
		}
	}
	for _, want := range []string{"secrets/postgres-tls.yaml", "secrets/redis-tls.yaml", "configmaps/tls-ca-bundle.yaml", "patches/auth-db.yaml", "patches/redis.yaml"} {
		if _, ok := tree[want]; !ok {
			t.Fatalf("overlay: %s missing", want)
		}
	}
	oldSecrets := secrets(t, old)
	changed := 0
	for name, data := range secrets(t, tree) {
		prefix := "server"
		if name == "redis-tls" {
			prefix = "redis"
		}
		c, err := pki.ParseCerts(data[prefix+"-cert.pem"])
		if err != nil {
			t.Fatalf("Secret %s: %v", name, err)
		}
		key, err := pki.ParseKey(data[prefix+"-key.pem"])
		if err != nil || !pki.Matches(key, c[0].PublicKey) {
			t.Fatalf("Secret %s: the key does not match the certificate (%v)", name, err)
		}
		ca, err := pki.ParseCerts(data["ca-cert.pem"])
		if err != nil || c[0].CheckSignatureFrom(ca[0]) != nil {
			t.Fatalf("Secret %s: the certificate is not signed by the CA it ships (%v)", name, err)
		}
		if !bytes.Equal(data[prefix+"-key.pem"], oldSecrets[name][prefix+"-key.pem"]) {
			changed++
		}
	}
	if changed != 0 && changed != len(oldSecrets) {
		t.Fatalf("overlay: %d of %d Secrets changed: a mix of the old tree and the new", changed, len(oldSecrets))
	}
	return changed == 0
}

// checkNoStrayKeys fails when a private key lies anywhere under dir but in
// the PKI's key files and the overlay's Secrets.
func checkNoStrayKeys(t *testing.T, dir string) {
	t.Helper()
	allowed := map[string]bool{"out/secrets/postgres-tls.yaml": true, "out/secrets/redis-tls.yaml": true}
	for _, p := range pairs {
		allowed["tls/"+p[1]] = true
	}
	for p, data := range snapshot(t, dir) {
		if strings.Contains(data, "PRIVATE KEY") || strings.Contains(data, "UFJJVkFURSBLRVk") { // base64 of "PRIVATE KEY"
			if !allowed[p] {
				t.Errorf("%s holds a private key", p)
			}
		}
	}
}

// TestKillAtEveryWrite stops a render that renews every certificate at
// each of its file-system operations in turn, as a kill would. After each:
// a reader of the overlay sees the old tree or the new one, the PKI (once
// the next render's recovery has run) the old pairs or the new, and the
// next render succeeds by itself and leaves no key outside its place. The
// overlay is swapped both ways: one exchange, and two renames.
func TestKillAtEveryWrite(t *testing.T) {
	for _, fsys := range []store.FS{store.OS{}, noExchange{store.OS{}}} {
		t.Run(fmt.Sprintf("%T", fsys), func(t *testing.T) {
			for at := 1; ; at++ {
				if !killAt(t, fsys, at) {
					if at < 10 {
						t.Fatalf("the render took only %d operations", at-1)
					}
					break
				}
			}
		})
	}
}

// killAt runs one case, and reports false when the render finished before
// operation at.
func killAt(t *testing.T, fsys store.FS, at int) bool {
	dir := t.TempDir()
	writeProject(t, dir)
	if code, stderr := renderIn(dir); code != 0 {
		t.Fatalf("first render: exit %d: %s", code, stderr)
	}
	oldPKI, oldTree := snapshot(t, filepath.Join(dir, "tls")), snapshot(t, filepath.Join(dir, "out"))
	renewAll(t, dir)

	f := &faultFS{FS: fsys, at: at}
	writeFS = f
	code, stderr := renderIn(dir)
	writeFS = store.OS{}
	if !f.reached() {
		if code != 0 {
			t.Fatalf("the render that was not stopped: exit %d: %s", code, stderr)
		}
		return false
	}
	if code == 0 {
		t.Fatalf("kill at operation %d: exit 0", at)
	}

	// What Git sees before anything else runs. Without an atomic exchange,
	// the swap has a moment with no overlay, which the next render's
	// recovery undoes.
	if _, ok := fsys.(noExchange); ok {
		if _, err := store.RecoverTree(store.OS{}, filepath.Join(dir, "out")); err != nil {
			t.Fatalf("kill at operation %d: recovering the overlay: %v", at, err)
		}
	}
	checkTree(t, snapshot(t, filepath.Join(dir, "out")), oldTree)
	// What the next render sees once it has recovered.
	if _, err := store.RecoverPKI(store.OS{}, filepath.Join(dir, "tls")); err != nil {
		t.Fatalf("kill at operation %d: recovering the PKI: %v", at, err)
	}
	newPKI := snapshot(t, filepath.Join(dir, "tls"))
	checkPairs(t, newPKI)
	if !maps.Equal(newPKI, oldPKI) {
		for _, p := range pairs[1:] {
			if newPKI[p[1]] == oldPKI[p[1]] {
				t.Fatalf("kill at operation %d: %s is old beside a new PKI", at, p[1])
			}
		}
	}

	code, stderr = renderIn(dir)
	if code != 0 {
		t.Fatalf("kill at operation %d: the next render: exit %d: %s", at, code, stderr)
	}
	final := snapshot(t, filepath.Join(dir, "tls"))
	checkPairs(t, final)
	if checkTree(t, snapshot(t, filepath.Join(dir, "out")), oldTree) {
		t.Fatalf("kill at operation %d: the next render left the old keys in the overlay", at)
	}
	if code, stderr := renderIn(dir); code != 0 || !strings.Contains(stderr, " 0 changed, 0 removed") {
		t.Fatalf("kill at operation %d: the overlay does not match the PKI: exit %d: %s", at, code, stderr)
	}
	checkNoStrayKeys(t, dir)
	if entries, _ := os.ReadDir(dir); len(entries) != 4 { // base, inventory.yaml, out, tls
		t.Fatalf("kill at operation %d: left %v", at, entries)
	}
	return true
}

// TestFullDiskAtEveryWrite fails each file write of a renewing render in
// turn with ENOSPC: the render fails, and the PKI and overlay are as they
// were, with nothing left behind.
func TestFullDiskAtEveryWrite(t *testing.T) {
	for at := 1; ; at++ {
		dir := t.TempDir()
		writeProject(t, dir)
		if code, stderr := renderIn(dir); code != 0 {
			t.Fatalf("first render: exit %d: %s", code, stderr)
		}
		oldPKI, oldTree := snapshot(t, filepath.Join(dir, "tls")), snapshot(t, filepath.Join(dir, "out"))
		renewAll(t, dir)
		f := &faultFS{FS: store.OS{}, at: at, enospc: true}
		writeFS = f
		code, stderr := renderIn(dir)
		writeFS = store.OS{}
		if !f.reached() {
			if at < 5 {
				t.Fatalf("the render wrote only %d files", at-1)
			}
			return
		}
		if code != exitFailed || !strings.Contains(stderr, "no space left on device") {
			t.Fatalf("full disk at write %d: exit %d: %s", at, code, stderr)
		}
		if !maps.Equal(snapshot(t, filepath.Join(dir, "tls")), oldPKI) {
			t.Fatalf("full disk at write %d: the PKI changed", at)
		}
		if !maps.Equal(snapshot(t, filepath.Join(dir, "out")), oldTree) {
			t.Fatalf("full disk at write %d: the overlay changed", at)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 4 {
			t.Fatalf("full disk at write %d: left %v", at, entries)
		}
		if entries, _ := os.ReadDir(filepath.Join(dir, "tls")); len(entries) != 3 { // ca, postgres, redis
			t.Fatalf("full disk at write %d: left %v in the PKI directory", at, entries)
		}
	}
}

// TestUnwritableOutputStopsBeforeRenewal: a render that cannot write the
// overlay renews nothing (the keys in the overlay stay the PKI's), and says
// so as invalid input.
func TestUnwritableOutputStopsBeforeRenewal(t *testing.T) {
	dir := t.TempDir()
	writeProject(t, dir)
	if code, stderr := renderIn(dir); code != 0 {
		t.Fatalf("first render: exit %d: %s", code, stderr)
	}
	oldPKI := snapshot(t, filepath.Join(dir, "tls"))
	renewAll(t, dir)
	// Root may write anywhere, so the file system says no instead.
	writeFS = denyUnder{FS: store.OS{}, dir: dir + string(filepath.Separator) + ".out"}
	code, stderr := renderIn(dir)
	writeFS = store.OS{}
	if code != exitInvalid || !strings.Contains(stderr, "tlsgen: error: writing the overlay ") || !strings.Contains(stderr, "permission denied") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(stderr, "renewed") || !maps.Equal(snapshot(t, filepath.Join(dir, "tls")), oldPKI) {
		t.Fatalf("the PKI changed though the overlay could not be written: %s", stderr)
	}
}

// denyUnder refuses to create anything whose path starts with dir.
type denyUnder struct {
	store.FS
	dir string
}

func (d denyUnder) Mkdir(name string, perm fs.FileMode) error {
	if strings.HasPrefix(name, d.dir) {
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrPermission}
	}
	return d.FS.Mkdir(name, perm)
}

// TestRendersWithDifferentPKIIntoOneOutput: renders that share -o but not
// the PKI directory take turns, and the overlay that stays ships
// certificates its CA bundle verifies.
func TestRendersWithDifferentPKIIntoOneOutput(t *testing.T) {
	dir := t.TempDir()
	writeProject(t, dir)
	const n = 6
	var wg sync.WaitGroup
	codes, stderrs := make([]int, n), make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// --new-ca: each render trusts its own CA, on purpose.
			codes[i], stderrs[i] = renderIn(dir, "--pki", filepath.Join(dir, fmt.Sprintf("pki-%d", i%2)), "--new-ca")
		}()
	}
	wg.Wait()
	for i := range n {
		if codes[i] != 0 {
			t.Errorf("render %d: exit %d: %s", i, codes[i], stderrs[i])
		}
	}
	tree := snapshot(t, filepath.Join(dir, "out"))
	checkTree(t, tree, tree)
	var bundle corev1.ConfigMap
	if err := yaml.Unmarshal([]byte(tree["configmaps/tls-ca-bundle.yaml"]), &bundle); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.ParseCerts([]byte(bundle.Data["ca-cert.pem"]))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range secrets(t, tree) {
		for k, v := range data {
			if !strings.HasSuffix(k, "-cert.pem") || k == "ca-cert.pem" {
				continue
			}
			c, _ := pki.ParseCerts(v)
			if err := c[0].CheckSignatureFrom(ca[0]); err != nil {
				t.Errorf("Secret %s: %s is not verified by the CA bundle: %v", name, k, err)
			}
		}
	}
	if entries, _ := os.ReadDir(dir); !slices.EqualFunc(entries, []string{"base", "inventory.yaml", "out", "pki-0", "pki-1"}, func(e fs.DirEntry, s string) bool { return e.Name() == s }) {
		t.Errorf("left %v", entries)
	}
}
