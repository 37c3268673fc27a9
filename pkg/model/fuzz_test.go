package model_test

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/pkg/model"
	"sigs.k8s.io/yaml"
)

// FuzzParse checks that Parse never panics, that every failure is a
// *model.Error whose lines all name the file, and that a parsed inventory is
// a fixed point: written back out (sigs.k8s.io/yaml, as gen does) and parsed
// again it gives the same file, the same databases in sorted order with the
// same Secrets, the clients in sorted order, and the same durations. The
// defaults are written out too, so the second parse applies none.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../examples/inventory.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	for _, opts := range [][]gen.Option{
		nil,
		{gen.PerDatabase()},
		{gen.NoRedis(), gen.Keys(model.RSA2048), gen.Profile(model.Modern)},
		{gen.Validity("48h", "30m"), gen.UID(70)},
		{gen.Databases("tenant-db", "auth-db", "pos-db")},
		{gen.Clients(gen.TenantService, gen.AuthService), gen.ClientAuth(model.PostgresClientAuthCert, model.RedisClientAuthRequired)},
	} {
		f.Add(gen.YAML(opts...))
	}
	f.Add([]byte(head + "postgres:\n  databases: [{name: a, service: b}]\nredis:\n  passwordSecret: {name: s, key: k}\n  args: [--appendonly, \"yes\"]\ntls: {ciphers: \"ECDHE+AESGCM:!aNULL\"}\n"))
	f.Add([]byte(head + "postgres:\n  databases:\n  - name: Auth_DB\n  - nmae: b\n  uid: -1\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte(""))

	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := model.Parse("fuzz.yaml", data)
		if err != nil {
			if inv != nil {
				t.Fatalf("Parse returned an inventory with its error")
			}
			var me *model.Error
			if !errors.As(err, &me) || len(me.Errs) == 0 {
				t.Fatalf("Parse error %T is not a *model.Error with problems: %v", err, err)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.yaml: ") || strings.Contains(line, "<nil>") {
					t.Fatalf("error line %q does not start with the file name, or names no path", line)
				}
			}
			return
		}
		out, err := yaml.Marshal(inv)
		if err != nil {
			t.Fatalf("marshalling a parsed inventory: %v", err)
		}
		again, err := model.Parse("fuzz.yaml", out)
		if err != nil {
			t.Fatalf("a parsed inventory, written out, does not parse: %v\n%s", err, out)
		}
		out2, err := yaml.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("written out twice, the inventory differs:\n%s\n---\n%s", out, out2)
		}
		if inv.Namespace != again.Namespace || inv.PKI != again.PKI || inv.TLS != again.TLS {
			t.Fatalf("namespace, pki or tls changed:\n%+v\n%+v", inv, again)
		}
		if inv.PKI.CA.Validity.Value <= 0 || inv.PKI.Server.Validity.Value <= 0 ||
			inv.PKI.Server.RenewBefore.Value >= inv.PKI.Server.Validity.Value ||
			inv.PKI.Server.Validity.Value > inv.PKI.CA.Validity.Value {
			t.Fatalf("a valid inventory with durations out of order: %+v", inv.PKI)
		}
		if pg := inv.Postgres; pg != nil {
			if !slices.EqualFunc(pg.Databases, again.Postgres.Databases, func(a, b model.Database) bool { return a == b }) {
				t.Fatalf("databases changed:\n%+v\n%+v", pg.Databases, again.Postgres.Databases)
			}
			if !slices.IsSortedFunc(pg.Databases, func(a, b model.Database) int { return strings.Compare(a.Name, b.Name) }) {
				t.Fatalf("databases not sorted: %+v", pg.Databases)
			}
			for _, db := range pg.Databases {
				if db.Name == "" || db.Service == "" || db.SecretName == "" {
					t.Fatalf("database without name, service or Secret: %+v", db)
				}
			}
		}
		if !slices.IsSortedFunc(inv.Clients, func(a, b model.Client) int { return strings.Compare(a.Name, b.Name) }) {
			t.Fatalf("clients not sorted: %+v", inv.Clients)
		}
	})
}
