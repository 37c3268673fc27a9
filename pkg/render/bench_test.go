package render_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	"github.com/bakery-ia/tlsgen/pkg/render"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// writeManyBase writes, in dir, a one-file base with a Deployment, a Service
// and a PersistentVolumeClaim for every database of inv and for its Redis,
// as a real namespace would have them: the Deployments run a container
// named after the inventory's container (not after the Deployment), a
// metrics sidecar, and mount a data volume.
func writeManyBase(tb testing.TB, dir string, inv *model.Inventory) {
	tb.Helper()
	var docs []string
	app := func(name, container, image, port string) {
		docs = append(docs, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  labels: {app.kubernetes.io/name: %[1]s}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector:
    matchLabels: {app.kubernetes.io/name: %[1]s}
  template:
    metadata:
      labels: {app.kubernetes.io/name: %[1]s}
      annotations: {prometheus.io/scrape: "true"}
    spec:
      containers:
      - name: %[2]s
        image: %[3]s
        ports:
        - {name: main, containerPort: %[4]s}
        env:
        - {name: PGDATA, value: /var/lib/data/pgdata}
        livenessProbe:
          tcpSocket: {port: %[4]s}
          periodSeconds: 10
        volumeMounts:
        - {name: data, mountPath: /var/lib/data}
      - name: metrics
        image: exporter:1
        volumeMounts:
        - {name: data, mountPath: /data, readOnly: true}
      volumes:
      - name: data
        persistentVolumeClaim: {claimName: %[1]s-pvc}
`, name, container, image, port), fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s-service
spec:
  selector: {app.kubernetes.io/name: %[1]s}
  ports:
  - {name: main, port: %[2]s, targetPort: main}
`, name, port), fmt.Sprintf(`apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: %[1]s-pvc
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
`, name))
	}
	if pg := inv.Postgres; pg != nil {
		for _, db := range pg.Databases {
			app(db.Name, pg.Container, "postgres:17-alpine", "5432")
		}
	}
	if r := inv.Redis; r != nil {
		app(r.Name, r.Container, "redis:7-alpine", "6379")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "apps.yaml"), []byte(strings.Join(docs, "---\n")), 0o644); err != nil {
		tb.Fatal(err)
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- apps.yaml\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// sharedKeyPKI issues one server certificate and hands it to every request:
// Render does not look inside, and issuing a thousand keys would measure
// the PKI, not the build.
func sharedKeyPKI(tb testing.TB, inv *model.Inventory) *pki.Result {
	tb.Helper()
	ca, reqs := render.Requests(inv)
	state, err := pki.Reconcile(fstest.MapFS{}, ca, reqs[:1], fixedTime)
	if err != nil {
		tb.Fatal(err)
	}
	one := state.Certs[reqs[0].Name]
	for _, r := range reqs {
		state.Certs[r.Name] = one
	}
	return state
}

// manyCase renders n databases in perDatabase mode over a base written by
// writeManyBase, in a temporary directory laid out as the CLI lays it out
// without -o: the inventory, base/ beside it, and the overlay built at
// .tlsgen-build.
func manyCase(tb testing.TB, n int) (overlayDir string, tree render.Tree, inv *model.Inventory) {
	tb.Helper()
	dir := tb.TempDir()
	inv = gen.Inventory(gen.ManyDatabases(n), gen.PerDatabase())
	writeManyBase(tb, filepath.Join(dir, "base"), inv)
	tree, err := render.Render(render.Input{Inventory: inv, PKI: sharedKeyPKI(tb, inv), Base: "../base"})
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(dir, ".tlsgen-build"), tree, inv
}

// BenchmarkBuild1000 builds what `tlsgen render` prints without -o for
// 1,000 databases in perDatabase mode: a patch file per Deployment.
func BenchmarkBuild1000(b *testing.B) {
	dir, tree, _ := manyCase(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		m, err := render.Build(filesys.MakeFsOnDisk(), dir, tree)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.AsYaml(); err != nil {
			b.Fatal(err)
		}
	}
}
