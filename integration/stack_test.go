package integration

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/bakery-ia/tlsgen/internal/sops"
	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resource"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/internal/servers"
	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	"github.com/bakery-ia/tlsgen/pkg/render"
	"github.com/jackc/pgx/v5"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// password is the PostgreSQL superuser's and Redis's password in tests.
const password = "tlsgen-test-password"

// tlsgenBin is the tlsgen command, built once in TestMain.
var tlsgenBin string

func TestMain(m *testing.M) {
	if os.Getenv(pgxHelperEnv) != "" { // a client, run by runDriver
		os.Exit(pgxClient())
	}
	dir, err := os.MkdirTemp("", "tlsgen-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tlsgenBin = filepath.Join(dir, "tlsgen")
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(goCmd, "build", "-o", tlsgenBin, "github.com/bakery-ia/tlsgen/cmd/tlsgen")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building tlsgen: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	for _, d := range helperDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// stack is an inventory rendered and built the way `tlsgen render` does
// it, with the objects the servers are started from.
type stack struct {
	inv *model.Inventory
	// dir holds inventory.yaml, the PKI directory pki/ and the client CA
	// bundle ca-bundle.pem.
	dir, invFile, pkiDir, caBundle string
	deployments                    map[string]*appsv1.Deployment
	secrets                        map[string]*corev1.Secret
	configMaps                     map[string]*corev1.ConfigMap
	// containers is the container patched in each Deployment.
	containers map[string]string
}

// renderStack reconciles a PKI directory (seeded with seed, when given) at
// now, renders the overlay against examples/base, builds it with kustomize
// and decodes what it built. invYAML is what tlsgen verify reads.
func renderStack(t *testing.T, inv *model.Inventory, invYAML []byte, seed fs.FS, now time.Time) *stack {
	t.Helper()
	dir := t.TempDir()
	s := &stack{inv: inv, dir: dir, invFile: filepath.Join(dir, "inventory.yaml"), pkiDir: filepath.Join(dir, "pki"), caBundle: filepath.Join(dir, "ca-bundle.pem")}
	if err := os.WriteFile(s.invFile, invYAML, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(s.pkiDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if seed != nil {
		if err := os.CopyFS(s.pkiDir, seed); err != nil {
			t.Fatal(err)
		}
	}
	ca, reqs := render.Requests(inv)
	// With encryption, the keys are kept sealed for the recipients, and the
	// identity opens them as the command's does.
	var opts pki.Options
	var ids []age.Identity
	if inv.Encryption != nil {
		ids = testIdentities(t)
		rs, err := sops.ParseRecipients(inv.Encryption.Age)
		if err != nil {
			t.Fatal(err)
		}
		opts = pki.Options{
			Recipients: inv.Encryption.Age,
			Seal:       func(k []byte) ([]byte, error) { return sops.EncryptFile(k, rs) },
			Open:       func(k []byte) ([]byte, error) { return sops.DecryptFile(k, ids) },
		}
	}
	state, err := opts.Reconcile(os.DirFS(s.pkiDir), ca, reqs, now)
	if err != nil {
		t.Fatal(err)
	}
	writePKI(t, s.pkiDir, state.Writes)

	// The overlay is built in memory as if it stood at this path, which
	// need not exist. Not under t.TempDir: kustomize's in-memory file system
	// refuses path elements outside [a-zA-Z0-9-_.:], and test names have
	// commas and spaces.
	overlay := filepath.Join(os.TempDir(), "tlsgen-overlay")
	base, err := filepath.Abs("../examples/base")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(overlay, base)
	if err != nil {
		t.Fatal(err)
	}
	// The containers to patch, read from the base as the command reads them.
	baseDeps, err := render.BaseDeployments(filesys.MakeFsOnDisk(), base)
	if err != nil {
		t.Fatal(err)
	}
	if s.containers, _, err = render.CheckBase(inv, baseDeps); err != nil {
		t.Fatal(err)
	}
	tree, err := render.Render(render.Input{Inventory: inv, PKI: state, Base: filepath.ToSlash(rel), Containers: s.containers})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Encryption != nil {
		for i, f := range tree {
			if f.Private {
				if tree[i].Data, err = sops.EncryptSecret(f.Data, inv.Encryption.Age, now); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	built, err := render.Build(filesys.MakeFsOnDisk(), overlay, tree)
	if err != nil {
		t.Fatal(err)
	}
	if s.deployments, err = render.Deployments(built); err != nil {
		t.Fatal(err)
	}
	s.secrets, s.configMaps = map[string]*corev1.Secret{}, map[string]*corev1.ConfigMap{}
	for _, r := range built.Resources() {
		switch r.GetKind() {
		case "Secret":
			if ids != nil {
				// As Flux does: the built Secret, decrypted.
				r = decryptBuilt(t, r, ids)
			}
			o := &corev1.Secret{}
			if err := render.DecodeStrict(r, o); err != nil {
				t.Fatal(err)
			}
			s.secrets[o.Name] = o
		case "ConfigMap":
			o := &corev1.ConfigMap{}
			if err := render.DecodeStrict(r, o); err != nil {
				t.Fatal(err)
			}
			s.configMaps[o.Name] = o
		}
	}
	bundle := s.configMap(t, render.CABundleName).Data["ca-cert.pem"]
	if bundle == "" {
		t.Fatalf("ConfigMap %s has no ca-cert.pem", render.CABundleName)
	}
	if err := os.WriteFile(s.caBundle, []byte(bundle), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *stack) configMap(t *testing.T, name string) *corev1.ConfigMap {
	t.Helper()
	cm := s.configMaps[name]
	if cm == nil {
		t.Fatalf("the built overlay has no ConfigMap %q", name)
	}
	return cm
}

func (s *stack) deployment(t *testing.T, name string) *appsv1.Deployment {
	t.Helper()
	d := s.deployments[name]
	if d == nil {
		t.Fatalf("the built overlay has no Deployment %q", name)
	}
	return d
}

func (s *stack) database(t *testing.T, name string) model.Database {
	t.Helper()
	i := slices.IndexFunc(s.inv.Postgres.Databases, func(db model.Database) bool { return db.Name == name })
	if i < 0 {
		t.Fatalf("no database %q in the inventory", name)
	}
	return s.inv.Postgres.Databases[i]
}

func findContainer(t *testing.T, cs []corev1.Container, name string) corev1.Container {
	t.Helper()
	i := slices.IndexFunc(cs, func(c corev1.Container) bool { return c.Name == name })
	if i < 0 {
		t.Fatalf("no container %q", name)
	}
	return cs[i]
}

func findVolume(t *testing.T, d *appsv1.Deployment, name string) corev1.Volume {
	t.Helper()
	vs := d.Spec.Template.Spec.Volumes
	i := slices.IndexFunc(vs, func(v corev1.Volume) bool { return v.Name == name })
	if i < 0 {
		t.Fatalf("Deployment %s: no volume %q", d.Name, name)
	}
	return vs[i]
}

// writeSecret writes a Secret's files into dir as a Secret volume shows
// them: mode 0644 (defaultMode), which is why PostgreSQL needs the init
// container.
func (s *stack) writeSecret(t *testing.T, name, dir string) {
	t.Helper()
	sec := s.secrets[name]
	if sec == nil {
		t.Fatalf("the built overlay has no Secret %q", name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range sec.Data {
		if err := os.WriteFile(filepath.Join(dir, k), v, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// postgresFiles is what one database's pod holds, taken from the built
// overlay, with the TLS directory laid out by the init container's script.
type postgresFiles struct {
	servers.PostgresConfig
	uid int
}

// layoutPostgres runs the init container of db's built Deployment, its own
// script with its own command, against a copy of the Secret's files in a
// directory acct can use, and returns what the server is started from.
func (s *stack) layoutPostgres(t *testing.T, acct servers.Account, db string) postgresFiles {
	t.Helper()
	d := s.deployment(t, db)
	spec := d.Spec.Template.Spec
	init := findContainer(t, spec.InitContainers, render.InitName)
	var srcMount, dstMount string
	var secretName string
	for _, m := range init.VolumeMounts {
		if v := findVolume(t, d, m.Name); v.Secret != nil {
			srcMount, secretName = m.MountPath, v.Secret.SecretName
		} else {
			dstMount = m.MountPath
		}
	}
	if srcMount == "" || dstMount == "" {
		t.Fatalf("init container %s: want a Secret mount and a writable mount, have %v", init.Name, init.VolumeMounts)
	}
	if len(init.Command) == 0 || len(init.Args) != 1 {
		t.Fatalf("init container %s: want command [sh -c] and one script argument, have %q %q", init.Name, init.Command, init.Args)
	}

	dir := servers.Dir(t, acct)
	src, dst := filepath.Join(dir, "tls-source"), filepath.Join(dir, "tls")
	s.writeSecret(t, secretName, src)
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	// The source mount first: "/tls" is a prefix of "/tls-source".
	mounts := [][2]string{{srcMount, src}, {dstMount, dst}}
	if strings.HasPrefix(dstMount, srcMount) {
		mounts[0], mounts[1] = mounts[1], mounts[0]
	}
	script := strings.NewReplacer(mounts[0][0], mounts[0][1], mounts[1][0], mounts[1][1]).Replace(init.Args[0])
	cmd := exec.Command(init.Command[0], append(slices.Clone(init.Command[1:]), script)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("init container script: %v\n%s\nscript:\n%s", err, out, script)
	}

	c := findContainer(t, spec.Containers, s.containers[d.Name])
	var configMap, configFile string
	sharesTLS := false
	for _, m := range c.VolumeMounts {
		if v := findVolume(t, d, m.Name); v.ConfigMap != nil {
			configMap = v.ConfigMap.Name
			configFile = m.MountPath + "/postgresql.conf"
		}
		sharesTLS = sharesTLS || (m.MountPath == dstMount && slices.ContainsFunc(init.VolumeMounts, func(im corev1.VolumeMount) bool { return im.Name == m.Name }))
	}
	if !sharesTLS {
		t.Fatalf("container %s does not mount the init container's %s", c.Name, dstMount)
	}
	if !slices.Contains(c.Command, "config_file="+configFile) {
		t.Fatalf("container %s: command %q does not start postgres with config_file=%s", c.Name, c.Command, configFile)
	}
	cm := s.configMap(t, configMap)
	return postgresFiles{
		PostgresConfig: servers.PostgresConfig{Conf: cm.Data["postgresql.conf"], HBA: cm.Data["pg_hba.conf"], TLSDir: dst, PodTLSDir: dstMount},
		uid:            int(s.inv.Postgres.RunAsUID()),
	}
}

// startPostgres starts db's server from the rendered files and gives the
// postgres user a password over the Unix socket (trust), since the hostssl
// line asks for scram-sha-256.
func startPostgres(t *testing.T, acct servers.Account, files postgresFiles) *servers.Postgres {
	t.Helper()
	pg, err := servers.StartPostgres(t, acct, files.PostgresConfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres", pg.SocketDir, pg.Port))
	if err != nil {
		t.Fatalf("connecting over the Unix socket: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ALTER USER postgres PASSWORD '"+password+"'"); err != nil {
		t.Fatal(err)
	}
	return pg
}

// redisServer is a running Redis and the container it was started from.
type redisServer struct {
	*servers.Redis
	container corev1.Container
	tlsDir    string // stands for the pod's /tls
	podTLSDir string
}

// startRedis starts redis-server with the built Redis Deployment's command
// and arguments: the password resolved, the TLS paths moved to a copy of
// the Secret's files, the TLS port moved to a free one, and bound to
// 127.0.0.1 with its data in a temporary directory. edit, when given,
// changes the arguments further.
func (s *stack) startRedis(t *testing.T, edit func(args []string) []string) *redisServer {
	t.Helper()
	d := s.deployment(t, s.inv.Redis.Name)
	c := findContainer(t, d.Spec.Template.Spec.Containers, s.containers[d.Name])
	if len(c.Command) != 1 || c.Command[0] != "redis-server" {
		t.Fatalf("container %s: command %q, want [redis-server]", c.Name, c.Command)
	}
	dir := t.TempDir()
	tlsDir := filepath.Join(dir, "tls")
	var podTLS string
	for _, m := range c.VolumeMounts {
		if v := findVolume(t, d, m.Name); v.Secret != nil {
			podTLS = m.MountPath
			s.writeSecret(t, v.Secret.SecretName, tlsDir)
		}
	}
	if podTLS == "" {
		t.Fatalf("container %s mounts no Secret", c.Name)
	}
	port := servers.FreePort(t)
	var args []string
	sawPort := false
	for i, a := range c.Args {
		a = strings.ReplaceAll(a, "$(REDIS_PASSWORD)", password) // as the kubelet expands it from env
		if rest, ok := strings.CutPrefix(a, podTLS+"/"); ok {
			a = filepath.Join(tlsDir, rest)
		}
		if i > 0 && c.Args[i-1] == "--tls-port" {
			a, sawPort = strconv.Itoa(port), true
		}
		args = append(args, a)
	}
	if !sawPort {
		t.Fatalf("container %s: no --tls-port in %q", c.Name, c.Args)
	}
	args = append(args, "--bind", "127.0.0.1", "--dir", dir, "--save", "")
	if edit != nil {
		args = edit(args)
	}
	r, err := servers.StartRedis(t, dir, port, args...)
	if err != nil {
		t.Fatal(err)
	}
	return &redisServer{Redis: r, container: c, tlsDir: tlsDir, podTLSDir: podTLS}
}

// probe runs one of the container's exec probes against this server: the
// pod's /tls and port 6379 changed, REDIS_PASSWORD in the environment as
// the Deployment sets it.
func (r *redisServer) probe(t *testing.T, p *corev1.Probe) error {
	t.Helper()
	if p == nil || p.Exec == nil || len(p.Exec.Command) == 0 {
		t.Fatalf("container %s: the probe is not an exec probe: %+v", r.container.Name, p)
	}
	servers.RedisCLI(t) // fail clearly when redis-cli is missing
	var cmdline []string
	for _, a := range p.Exec.Command {
		a = strings.ReplaceAll(a, r.podTLSDir+"/", r.tlsDir+"/")
		a = strings.ReplaceAll(a, "-p 6379", "-p "+strconv.Itoa(r.Port))
		cmdline = append(cmdline, a)
	}
	cmd := exec.Command(cmdline[0], cmdline[1:]...)
	cmd.Env = append(os.Environ(), "REDIS_PASSWORD="+password)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%v: %s", err, out.String())
		}
		return nil
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("probe still running after 10s")
	}
}

// exampleInventory is examples/inventory.yaml, with postgres.uid set to
// the user the test runs PostgreSQL as, so the init script's chown fits.
func exampleInventory(t *testing.T, acct servers.Account) (*model.Inventory, []byte) {
	t.Helper()
	data, err := os.ReadFile("../examples/inventory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := model.Parse("examples/inventory.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	uid := int64(acct.UID)
	inv.Postgres.UID = &uid
	return inv, data
}

// exampleCA is the example's committed test CA: seeding the PKI directory
// with it leaves two RSA-4096 server keys to generate, in one parallel
// round, instead of three.
func exampleCA(t *testing.T) fs.FS {
	t.Helper()
	m, err := gen.FixturePKI("../pkg/render/testdata/pki/example")
	if err != nil {
		t.Fatal(err)
	}
	for p := range m {
		if !strings.HasPrefix(p, "ca/") {
			delete(m, p)
		}
	}
	return m
}

// genInventory is a test inventory and its YAML.
func genInventory(opts ...gen.Option) (*model.Inventory, []byte) {
	return gen.Inventory(opts...), gen.YAML(opts...)
}

// otherCA writes a CA that signed none of the servers and returns its file.
func otherCA(t *testing.T) string {
	t.Helper()
	res, err := pki.Reconcile(os.DirFS(t.TempDir()), pki.CARequest{CommonName: "Other CA", Key: pki.KeyType(model.ECDSAP256), Validity: model.Year}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(p, res.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testIdentity is the age identity of the encrypted test inventories,
// made once per run: no secret key is committed.
var testIdentity = sync.OnceValue(func() *age.X25519Identity {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		panic(err)
	}
	return id
})

func testIdentities(t *testing.T) []age.Identity {
	return []age.Identity{testIdentity()}
}

// decryptBuilt decrypts a Secret kustomize built from a SOPS document, and
// fails unless it was one: the MAC must survive kustomize's namespace.
func decryptBuilt(t *testing.T, r *resource.Resource, ids []age.Identity) *resource.Resource {
	t.Helper()
	y, err := r.AsYAML()
	if err != nil {
		t.Fatal(err)
	}
	plain, err := sops.DecryptSecret(y, ids)
	if err != nil {
		t.Fatalf("Secret %s as kustomize built it: %v", r.GetName(), err)
	}
	out, err := provider.NewDepProvider().GetResourceFactory().FromBytes(plain)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writePKI applies the PKI's writes and removals to dir.
func writePKI(t *testing.T, dir string, files []pki.File) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if f.Delete {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
