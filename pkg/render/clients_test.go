package render_test

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	"github.com/bakery-ia/tlsgen/pkg/render"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// posService uses the Redis alone: it has no user.
var posService = model.Client{Name: "pos-service", Redis: true}

// built is a rendered tree built with kustomize, decoded.
type built struct {
	tree        render.Tree
	deployments map[string]*appsv1.Deployment
	secrets     map[string]*corev1.Secret
	configMaps  map[string]*corev1.ConfigMap
}

// buildOver renders inv with the PKI in fsys and builds it over the base
// in baseDir, as an overlay beside it.
func buildOver(t *testing.T, inv *model.Inventory, fsys fstest.MapFS, baseDir string) *built {
	t.Helper()
	ca, reqs := render.Requests(inv)
	state, err := pki.Reconcile(fsys, ca, reqs, fixedTime)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range state.Writes {
		fsys[f.Path] = &fstest.MapFile{Data: f.Data}
	}
	dfs := filesys.MakeFsOnDisk()
	base, err := render.BaseDeployments(dfs, baseDir)
	if err != nil {
		t.Fatal(err)
	}
	containers, _, err := render.CheckBase(inv, base)
	if err != nil {
		t.Fatal(err)
	}
	overlay := filepath.Join(filepath.Dir(baseDir), ".tlsgen-test-overlay")
	tree, err := render.Render(render.Input{Inventory: inv, PKI: state, Base: "../" + filepath.Base(baseDir), Containers: containers})
	if err != nil {
		t.Fatal(err)
	}
	m, err := render.Build(dfs, overlay, tree)
	if err != nil {
		t.Fatal(err)
	}
	checkBuilt(t, inv, baseDir, m)
	return decodeBuilt(t, tree, m)
}

func decodeBuilt(t *testing.T, tree render.Tree, m resmap.ResMap) *built {
	t.Helper()
	b := &built{tree: tree, secrets: map[string]*corev1.Secret{}, configMaps: map[string]*corev1.ConfigMap{}}
	var err error
	if b.deployments, err = render.Deployments(m); err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Resources() {
		switch r.GetKind() {
		case "Secret":
			s := &corev1.Secret{}
			if err := render.DecodeStrict(r, s); err != nil {
				t.Fatal(err)
			}
			b.secrets[s.Name] = s
		case "ConfigMap":
			c := &corev1.ConfigMap{}
			if err := render.DecodeStrict(r, c); err != nil {
				t.Fatal(err)
			}
			b.configMaps[c.Name] = c
		}
	}
	return b
}

// container returns the container named like its Deployment, as the
// example's services are.
func (b *built) container(t *testing.T, deployment string) corev1.Container {
	t.Helper()
	d := b.deployments[deployment]
	if d == nil {
		t.Fatalf("no Deployment %q", deployment)
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == deployment || len(d.Spec.Template.Spec.Containers) == 1 {
			return c
		}
	}
	t.Fatalf("Deployment %q has no container %q", deployment, deployment)
	return corev1.Container{}
}

// envOf lists a container's variables as NAME=value, sorted, with those
// from a reference as NAME<-ref.
func envOf(c corev1.Container) []string {
	var out []string
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			out = append(out, e.Name+"<-ref")
			continue
		}
		out = append(out, e.Name+"="+e.Value)
	}
	slices.Sort(out)
	return out
}

func TestClientPatchesFollowClientAuth(t *testing.T) {
	const (
		ca   = "/etc/tls-ca/ca-cert.pem"
		crt  = "/etc/tls-client/tls.crt"
		key  = "/etc/tls-client/tls.key"
		base = "DATABASE_URL<-ref REDIS_HOST=redis-service REDIS_PASSWORD<-ref REDIS_PORT=6379"
	)
	tests := []struct {
		name    string
		pg      model.PostgresClientAuth
		r       model.RedisClientAuth
		env     map[string]string // by client: its variables, with the base's
		secrets []string          // the clients' Secrets
		hba     string
		redis   string // --tls-auth-clients
	}{
		{
			name: "none and none: every client verifies the servers with the CA bundle, and gets no certificate",
			pg:   "none", r: "none",
			env: map[string]string{
				"auth-service":   "PGSSLMODE=verify-full PGSSLROOTCERT=" + ca + " REDIS_TLS_CA_FILE=" + ca,
				"tenant-service": "PGSSLMODE=verify-full PGSSLROOTCERT=" + ca,
				"pos-service":    "REDIS_TLS_CA_FILE=" + ca,
			},
			hba: "hostssl    all       all   all      scram-sha-256\n", redis: "no",
		},
		{
			name: "verify-full: the clients of a database present a certificate as well as the password",
			pg:   "verify-full", r: "none",
			env: map[string]string{
				"auth-service":   "PGSSLCERT=" + crt + " PGSSLKEY=" + key + " PGSSLMODE=verify-full PGSSLROOTCERT=" + ca + " REDIS_TLS_CA_FILE=" + ca,
				"tenant-service": "PGSSLCERT=" + crt + " PGSSLKEY=" + key + " PGSSLMODE=verify-full PGSSLROOTCERT=" + ca,
				"pos-service":    "REDIS_TLS_CA_FILE=" + ca,
			},
			secrets: []string{"auth-service-client-tls", "tenant-service-client-tls"},
			hba:     "hostssl    all       all   all      scram-sha-256 clientcert=verify-full\n", redis: "no",
		},
		{
			name: "cert: the certificate alone authenticates",
			pg:   "cert", r: "none",
			env: map[string]string{
				"auth-service":   "PGSSLCERT=" + crt + " PGSSLKEY=" + key + " PGSSLMODE=verify-full PGSSLROOTCERT=" + ca + " REDIS_TLS_CA_FILE=" + ca,
				"tenant-service": "PGSSLCERT=" + crt + " PGSSLKEY=" + key + " PGSSLMODE=verify-full PGSSLROOTCERT=" + ca,
				"pos-service":    "REDIS_TLS_CA_FILE=" + ca,
			},
			secrets: []string{"auth-service-client-tls", "tenant-service-client-tls"},
			hba:     "hostssl    all       all   all      cert\n", redis: "no",
		},
		{
			name: "redis required: the Redis's clients present a certificate, the databases' clients do not",
			pg:   "none", r: "required",
			env: map[string]string{
				"auth-service":   "PGSSLMODE=verify-full PGSSLROOTCERT=" + ca + " REDIS_TLS_CA_FILE=" + ca + " REDIS_TLS_CERT_FILE=" + crt + " REDIS_TLS_KEY_FILE=" + key,
				"tenant-service": "PGSSLMODE=verify-full PGSSLROOTCERT=" + ca,
				"pos-service":    "REDIS_TLS_CA_FILE=" + ca + " REDIS_TLS_CERT_FILE=" + crt + " REDIS_TLS_KEY_FILE=" + key,
			},
			secrets: []string{"auth-service-client-tls", "pos-service-client-tls"},
			hba:     "hostssl    all       all   all      scram-sha-256\n", redis: "yes",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := gen.Inventory(gen.Clients(gen.AuthService, gen.TenantService, posService), gen.ClientAuth(tc.pg, tc.r))
			b := buildOver(t, inv, fstest.MapFS{}, "../../examples/base")
			for _, c := range inv.Clients {
				t.Run(c.Name, func(t *testing.T) {
					cont := b.container(t, c.Name)
					want := append(strings.Fields(tc.env[c.Name]), strings.Fields(base)...)
					slices.Sort(want)
					if got := envOf(cont); !slices.Equal(got, want) {
						t.Errorf("env:\n%q\nwant\n%q", got, want)
					}
					spec := b.deployments[c.Name].Spec.Template.Spec
					var mounts []string
					for _, m := range cont.VolumeMounts {
						mounts = append(mounts, m.Name+":"+m.MountPath)
						if !m.ReadOnly {
							t.Errorf("mount %s is not read-only", m.Name)
						}
					}
					wantMounts := []string{"tls-ca-bundle:/etc/tls-ca"}
					secretName := c.Name + "-client-tls"
					hasCert := slices.Contains(tc.secrets, secretName)
					if hasCert {
						wantMounts = append(wantMounts, "tls-client-cert:/etc/tls-client")
					}
					if !slices.Equal(mounts, wantMounts) {
						t.Errorf("mounts %q, want %q", mounts, wantMounts)
					}
					for _, v := range spec.Volumes {
						switch v.Name {
						case "tls-ca-bundle":
							if v.ConfigMap == nil || v.ConfigMap.Name != render.CABundleName {
								t.Errorf("volume %s: %+v, want the ConfigMap %s", v.Name, v.VolumeSource, render.CABundleName)
							}
						case "tls-client-cert":
							if v.Secret == nil || v.Secret.SecretName != secretName || v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o440 {
								t.Errorf("volume %s: %+v, want Secret %s with defaultMode 0440", v.Name, v.VolumeSource, secretName)
							}
						}
					}
					s := b.secrets[secretName]
					if !hasCert {
						if s != nil {
							t.Errorf("Secret %s rendered, and no server asks %s for a certificate", secretName, c.Name)
						}
						return
					}
					if s == nil {
						t.Fatalf("no Secret %s", secretName)
					}
					if s.Type != corev1.SecretTypeTLS || len(s.Data) != 3 || s.Data["tls.crt"] == nil || s.Data["tls.key"] == nil || s.Data["ca.crt"] == nil {
						t.Errorf("Secret %s: type %s, keys %v; want kubernetes.io/tls with tls.crt, tls.key, ca.crt", secretName, s.Type, slices.Sorted(mapKeys(s.Data)))
					}
					certs, err := pki.ParseCerts(s.Data["tls.crt"])
					if err != nil {
						t.Fatal(err)
					}
					cn := c.User
					if cn == "" {
						cn = c.Name
					}
					if certs[0].Subject.CommonName != cn || s.Annotations["tlsgen.dev/common-name"] != cn {
						t.Errorf("certificate CN %q, annotation %q; want %q", certs[0].Subject.CommonName, s.Annotations["tlsgen.dev/common-name"], cn)
					}
				})
			}
			hba := b.configMaps["postgres-tls-config"].Data["pg_hba.conf"]
			if !strings.Contains(hba, "\n"+tc.hba) {
				t.Errorf("pg_hba.conf has no line %q:\n%s", tc.hba, hba)
			}
			redis := b.container(t, "redis")
			i := slices.Index(redis.Args, "--tls-auth-clients")
			if i < 0 || redis.Args[i+1] != tc.redis {
				t.Errorf("redis args %q, want --tls-auth-clients %s", redis.Args, tc.redis)
			}
			probe := strings.Join(redis.LivenessProbe.Exec.Command, " ") + strings.Join(redis.ReadinessProbe.Exec.Command, " ")
			redisSecret := b.secrets["redis-tls"]
			if tc.redis == "yes" {
				if strings.Count(probe, "--cert /tls/probe-cert.pem --key /tls/probe-key.pem") != 2 {
					t.Errorf("the probes present no certificate: %s", probe)
				}
				probeCerts, err := pki.ParseCerts(redisSecret.Data["probe-cert.pem"])
				if err != nil || redisSecret.Data["probe-key.pem"] == nil {
					t.Fatalf("redis-tls: no probe certificate and key: %v", err)
				}
				if u := probeCerts[0].ExtKeyUsage; len(u) != 1 || u[0] != 2 /* clientAuth */ {
					t.Errorf("probe certificate usage %v, want clientAuth only", u)
				}
			} else if strings.Contains(probe, "--cert") || redisSecret.Data["probe-cert.pem"] != nil {
				t.Errorf("a probe certificate without --tls-auth-clients yes: %s", probe)
			}
			for _, name := range []string{"postgres-tls", "redis-tls"} {
				for k, v := range b.secrets[name].Data {
					if !strings.HasSuffix(k, "-cert.pem") || strings.HasPrefix(k, "probe") || k == "ca-cert.pem" {
						continue
					}
					certs, err := pki.ParseCerts(v)
					if err != nil {
						t.Fatal(err)
					}
					if u := certs[0].ExtKeyUsage; len(u) != 1 || u[0] != 1 /* serverAuth */ {
						t.Errorf("%s %s: usage %v, want serverAuth only", name, k, u)
					}
				}
			}
		})
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestAClientEnvironmentReplacesWhatTheBaseSets(t *testing.T) {
	dir := t.TempDir()
	client := `apiVersion: apps/v1
kind: Deployment
metadata: {name: auth-service}
spec:
  selector: {matchLabels: {app: auth-service}}
  template:
    metadata:
      labels: {app: auth-service}
      annotations: {kubectl.kubernetes.io/default-container: app}
    spec:
      containers:
      - name: metrics
        image: exporter
      - name: app
        image: bakery-ia/auth-service:1.0.0
        env:
        - {name: PGSSLMODE, valueFrom: {configMapKeyRef: {name: db, key: sslmode}}}
        - {name: PGSSLROOTCERT, value: /etc/ssl/certs/ca-certificates.crt}
        - {name: APP_ENV, value: production}
`
	writeFiles(t, filepath.Join(dir, "base"), map[string]string{
		"kustomization.yaml": "resources: [d.yaml]\n",
		"d.yaml":             deployment("auth-db", "") + "---\n" + deployment("tenant-db", "") + "---\n" + client,
	})
	inv := gen.Inventory(gen.NoRedis(), gen.Clients(model.Client{Name: "auth-service", Postgres: []string{"auth-db"}, User: "auth_user"}))
	b := buildOver(t, inv, fstest.MapFS{}, filepath.Join(dir, "base"))
	cs := b.deployments["auth-service"].Spec.Template.Spec.Containers
	i := slices.IndexFunc(cs, func(c corev1.Container) bool { return c.Name == "app" })
	j := slices.IndexFunc(cs, func(c corev1.Container) bool { return c.Name == "metrics" })
	if len(cs) != 2 || i < 0 || j < 0 {
		t.Fatalf("containers %+v, want metrics and app", cs)
	}
	c := cs[i]
	want := []string{"APP_ENV=production", "PGSSLMODE=verify-full", "PGSSLROOTCERT=/etc/tls-ca/ca-cert.pem"}
	if got := envOf(c); !slices.Equal(got, want) {
		t.Errorf("env %q, want %q: the base's PGSSLMODE (from a ConfigMap) and PGSSLROOTCERT replaced", got, want)
	}
	if m := cs[j]; len(m.Env)+len(m.VolumeMounts) > 0 {
		t.Errorf("the sidecar was patched too: %+v", m)
	}
}

func TestClientCertificatesTakeTheServersKeyRules(t *testing.T) {
	inv := gen.Inventory(gen.Clients(gen.AuthService, posService), gen.ClientAuth("cert", "required"), gen.Keys(model.RSA3072), gen.Validity("2y", "60d"))
	_, reqs := render.Requests(inv)
	var got []string
	for _, r := range reqs {
		if r.Usage != pki.ClientAuth {
			continue
		}
		if r.Key != "rsa-3072" || r.Validity != 2*model.Year || r.RenewBefore != 60*model.Day || len(r.DNSNames) != 0 {
			t.Errorf("%s: key %s, validity %s, renewBefore %s, names %v; want the servers' rsa-3072, 2y, 60d and no names", r.Name, r.Key, r.Validity, r.RenewBefore, r.DNSNames)
		}
		got = append(got, r.Name+" "+r.CommonName)
	}
	if want := []string{"clients/auth-service auth_user", "clients/pos-service pos-service", "redis/probe tlsgen-redis-probe"}; !slices.Equal(got, want) {
		t.Errorf("client requests %q, want %q", got, want)
	}
}

func TestRolloutsCoverTheClients(t *testing.T) {
	inv := gen.Inventory(gen.Clients(gen.AuthService, gen.TenantService), gen.ClientAuth("verify-full", "none"))
	tests := []struct {
		name    string
		inv     *model.Inventory // inv when nil
		renew   func(fsys fstest.MapFS)
		changed []string
	}{
		{
			name: "a CA rotation's start, which changes the bundle alone, rolls the clients that hold no certificate too",
			inv:  gen.Inventory(gen.Clients(gen.AuthService, gen.TenantService)),
			renew: func(fsys fstest.MapFS) {
				ca, _ := render.Requests(inv)
				files, err := pki.Options{}.RotateStart(fsys, ca, fixedTime)
				if err != nil {
					panic(err)
				}
				for _, f := range files {
					fsys[f.Path] = &fstest.MapFile{Data: f.Data}
				}
			},
			changed: []string{
				"configmaps/tls-ca-bundle.yaml",
				"patches/auth-db.yaml", "patches/auth-service.yaml", "patches/redis.yaml", "patches/tenant-db.yaml", "patches/tenant-service.yaml",
				"secrets/postgres-tls.yaml", "secrets/redis-tls.yaml",
			},
		},
		{
			name:    "a renewed client certificate rolls that client alone",
			renew:   func(fsys fstest.MapFS) { delete(fsys, "clients/auth-service/client-cert.pem") },
			changed: []string{"patches/auth-service.yaml", "secrets/auth-service-client-tls.yaml"},
		},
		{
			name:    "a renewed server certificate rolls its servers and no client",
			renew:   func(fsys fstest.MapFS) { delete(fsys, "postgres/server-cert.pem") },
			changed: []string{"patches/auth-db.yaml", "patches/tenant-db.yaml", "secrets/postgres-tls.yaml"},
		},
		{
			name: "a new CA rolls every client too",
			renew: func(fsys fstest.MapFS) {
				for p := range fsys {
					if strings.HasPrefix(p, "ca/") {
						delete(fsys, p)
					}
				}
			},
			changed: []string{
				"configmaps/tls-ca-bundle.yaml",
				"patches/auth-db.yaml", "patches/auth-service.yaml", "patches/redis.yaml", "patches/tenant-db.yaml", "patches/tenant-service.yaml",
				"secrets/auth-service-client-tls.yaml", "secrets/postgres-tls.yaml", "secrets/redis-tls.yaml", "secrets/tenant-service-client-tls.yaml",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			inv := inv
			if tc.inv != nil {
				inv = tc.inv
			}
			before := renderWith(t, inv, fsys)
			tc.renew(fsys)
			after := renderWith(t, inv, fsys)
			var changed []string
			for _, f := range after {
				if !bytes.Equal(f.Data, before.Get(f.Path)) {
					changed = append(changed, f.Path)
				}
			}
			if !slices.Equal(changed, tc.changed) {
				t.Errorf("changed %q, want %q", changed, tc.changed)
			}
		})
	}
}

func TestReorderingClientsChangesNothing(t *testing.T) {
	fsys := fstest.MapFS{}
	a := renderWith(t, gen.Inventory(gen.Clients(gen.AuthService, gen.TenantService, posService), gen.ClientAuth("cert", "required")), fsys)
	b := renderWith(t, gen.Inventory(gen.Clients(posService, gen.TenantService, gen.AuthService), gen.ClientAuth("cert", "required")), fsys)
	if paths(a) != paths(b) {
		t.Fatalf("trees differ:\n%s\n%s", paths(a), paths(b))
	}
	for i := range a {
		if !bytes.Equal(a[i].Data, b[i].Data) {
			t.Errorf("%s differs when the clients are listed in another order", a[i].Path)
		}
	}
}

func TestAClientSecretIsPrivateAndNeedsItsKey(t *testing.T) {
	inv := gen.Inventory(gen.Clients(gen.AuthService), gen.ClientAuth("cert", "none"))
	tree := renderWith(t, inv, fstest.MapFS{})
	for _, f := range tree {
		if f.Path == "secrets/auth-service-client-tls.yaml" {
			if !f.Private || f.KeyMissing {
				t.Errorf("%s: Private %v, KeyMissing %v; want a private file with its key", f.Path, f.Private, f.KeyMissing)
			}
			return
		}
	}
	t.Errorf("no secrets/auth-service-client-tls.yaml in %s", paths(tree))
}

func TestCheckBaseHoldsEachClientToWhatItsPatchNeeds(t *testing.T) {
	// client is auth-service's Deployment with spec (the pod spec's extra
	// fields) and containers.
	client := func(podSpec, containers string) string {
		return `apiVersion: apps/v1
kind: Deployment
metadata: {name: auth-service}
spec:
  selector: {matchLabels: {app: auth-service}}
  template:
    metadata: {labels: {app: auth-service}}
    spec:
` + podSpec + `      containers:
` + containers
	}
	const app = "      - {name: auth-service, image: app}\n"
	tests := []struct {
		name       string
		clientAuth model.PostgresClientAuth
		deployment string // "" for none
		wantErr    string
		wantWarn   string // "" for no warning
	}{
		{name: "a client that is in the base passes", clientAuth: "cert", deployment: client("", app)},
		{name: "a client that is not in the base is named", clientAuth: "none", wantErr: `no Deployment "auth-service"`},
		{
			name: "a client whose container cannot be told says where to state it", clientAuth: "none",
			deployment: client("", "      - {name: app, image: app}\n      - {name: metrics, image: exporter}\n"),
			wantErr:    `Deployment "auth-service" has containers app, metrics and none is named "auth-service" or marked with the kubectl.kubernetes.io/default-container annotation: set clients[0].container`,
		},
		{
			name: "a base volume named like the CA bundle's would be merged with it", clientAuth: "none",
			deployment: client("      volumes: [{name: tls-ca-bundle, emptyDir: {}}]\n", app),
			wantErr:    `Deployment "auth-service" (clients[0]) has a volume "tls-ca-bundle", which the patch would merge with its own: rename it`,
		},
		{
			name: "a base mount where the client certificate goes would be replaced", clientAuth: "verify-full",
			deployment: client("      volumes: [{name: certs, emptyDir: {}}]\n", "      - {name: auth-service, image: app, volumeMounts: [{name: certs, mountPath: /etc/tls-client/}]}\n"),
			wantErr:    `Deployment "auth-service" (clients[0]) has a mount at /etc/tls-client, which the patch would merge with its own: rename it`,
		},
		{
			name: "the same mount is fine when the client gets no certificate", clientAuth: "none",
			deployment: client("      volumes: [{name: certs, emptyDir: {}}]\n", "      - {name: auth-service, image: app, volumeMounts: [{name: certs, mountPath: /etc/tls-client}]}\n"),
		},
		{
			name: "a non-root client without an fsGroup cannot read its key", clientAuth: "cert",
			deployment: client("      securityContext: {runAsUser: 1000}\n", app),
			wantWarn:   `Deployment "auth-service" runs as a non-root user without an fsGroup: it cannot read its client key, which its Secret volume gives to root and to the pod's fsGroup (mode 0440, as libpq accepts for a key root owns); set spec.template.spec.securityContext.fsGroup`,
		},
		{
			name: "runAsNonRoot on the container counts too", clientAuth: "cert",
			deployment: client("", "      - {name: auth-service, image: app, securityContext: {runAsNonRoot: true}}\n"),
			wantWarn:   `Deployment "auth-service" runs as a non-root user without an fsGroup`,
		},
		{
			name: "a non-root client with an fsGroup reads its key through it", clientAuth: "cert",
			deployment: client("      securityContext: {runAsUser: 1000, fsGroup: 1000}\n", app),
		},
		{
			name: "a container that runs as root overrides the pod's non-root user", clientAuth: "cert",
			deployment: client("      securityContext: {runAsUser: 1000}\n", "      - {name: auth-service, image: app, securityContext: {runAsUser: 0}}\n"),
		},
		{
			name: "a non-root client without a certificate needs no fsGroup", clientAuth: "none",
			deployment: client("      securityContext: {runAsUser: 1000}\n", app),
		},
		{
			name: "a URL that asks for less than verification is pointed out", clientAuth: "none",
			deployment: client("", "      - name: auth-service\n        image: app\n        env: [{name: DATABASE_URL, value: 'postgresql+asyncpg://auth_user@auth-db-service:5432/auth_db?ssl=require'}]\n"),
			wantWarn:   `Deployment "auth-service" sets DATABASE_URL with ssl=require, which overrides what tlsgen sets (PGSSLMODE=verify-full, REDIS_TLS_CA_FILE): drop it from the value, or verify the server there too`,
		},
		{
			name: "so is redis-py's ssl_cert_reqs=none", clientAuth: "none",
			deployment: client("", "      - name: auth-service\n        image: app\n        env: [{name: REDIS_URL, value: 'rediss://:pw@redis-service:6379?db=0&ssl_cert_reqs=none'}]\n"),
			wantWarn:   `Deployment "auth-service" sets REDIS_URL with ssl_cert_reqs=none, which overrides`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := deployment("auth-db", "") + "---\n" + deployment("tenant-db", "")
			if tc.deployment != "" {
				files += "---\n" + tc.deployment
			}
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"kustomization.yaml": "resources: [d.yaml]\n", "d.yaml": files})
			base, err := render.BaseDeployments(filesys.MakeFsOnDisk(), dir)
			if err != nil {
				t.Fatal(err)
			}
			inv := gen.Inventory(gen.NoRedis(), gen.Clients(model.Client{Name: "auth-service", Postgres: []string{"auth-db"}, User: "auth_user"}), gen.ClientAuth(tc.clientAuth, ""))
			containers, warnings, err := render.CheckBase(inv, base)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("CheckBase: %v", err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Errorf("CheckBase: %v\nwant %s", err, tc.wantErr)
			}
			if tc.wantErr == "" && containers["auth-service"] == "" {
				t.Errorf("no container for auth-service: %v", containers)
			}
			var clientWarnings []string
			for _, w := range warnings {
				if strings.Contains(w, "auth-service") {
					clientWarnings = append(clientWarnings, w)
				}
			}
			switch {
			case tc.wantWarn == "" && len(clientWarnings) > 0:
				t.Errorf("warnings %q, want none", clientWarnings)
			case tc.wantWarn != "" && (len(clientWarnings) != 1 || !strings.HasPrefix(clientWarnings[0], tc.wantWarn)):
				t.Errorf("warnings %q, want one starting %q", clientWarnings, tc.wantWarn)
			}
		})
	}
}
