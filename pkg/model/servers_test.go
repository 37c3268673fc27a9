package model_test

import (
	"slices"
	"testing"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/pkg/model"
)

func TestServersAreOneListOfEveryServer(t *testing.T) {
	t.Run("shared mode: the databases share one certificate that names every Service", func(t *testing.T) {
		servers := gen.Inventory().Servers()
		var names []string
		for _, s := range servers {
			names = append(names, string(s.Kind)+"/"+s.Name+" "+s.Cert+" "+s.SecretName+" "+s.DefaultContainer+" "+s.Port)
		}
		want := []string{
			"postgres/auth-db postgres postgres-tls postgres 5432",
			"postgres/tenant-db postgres postgres-tls postgres 5432",
			"redis/redis redis redis-tls redis 6379",
		}
		if !slices.Equal(names, want) {
			t.Fatalf("servers:\n%q\nwant\n%q", names, want)
		}
		auth, tenant := servers[0], servers[1]
		if !slices.Equal(auth.DNSNames, tenant.DNSNames) || auth.CommonName != "*.bakery-ia.svc.cluster.local" {
			t.Errorf("shared certificate: %s %q and %q", auth.CommonName, auth.DNSNames, tenant.DNSNames)
		}
		for _, n := range []string{"*.bakery-ia.svc.cluster.local", "auth-db-service", "tenant-db-service.bakery-ia.svc", "localhost"} {
			if !slices.Contains(auth.DNSNames, n) {
				t.Errorf("the shared certificate lacks %s: %q", n, auth.DNSNames)
			}
		}
		if auth.FQDN != "auth-db-service.bakery-ia.svc.cluster.local" || auth.CertFile != "server-cert.pem" || servers[2].KeyFile != "redis-key.pem" {
			t.Errorf("auth-db %s %s, redis %s", auth.FQDN, auth.CertFile, servers[2].KeyFile)
		}
	})
	t.Run("perDatabase mode: each database has its own certificate for its own Service", func(t *testing.T) {
		s := gen.Inventory(gen.PerDatabase()).Servers()[1]
		want := []string{"tenant-db-service", "tenant-db-service.bakery-ia", "tenant-db-service.bakery-ia.svc", "tenant-db-service.bakery-ia.svc.cluster.local", "localhost"}
		if s.Cert != "postgres/tenant-db" || s.SecretName != "tenant-db-tls" || s.CommonName != s.FQDN || !slices.Equal(s.DNSNames, want) {
			t.Errorf("%+v", s)
		}
	})
	t.Run("without a Redis the list ends with the databases", func(t *testing.T) {
		s := gen.Inventory(gen.NoRedis()).Servers()
		if len(s) != 2 || s[1].Kind != model.PostgresKind {
			t.Errorf("%+v", s)
		}
	})
}
