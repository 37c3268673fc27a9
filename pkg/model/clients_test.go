package model_test

import (
	"slices"
	"testing"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/pkg/model"
)

func TestParseClients(t *testing.T) {
	inv := mustParse(t, head+"postgres:\n  databases: [{name: auth-db}, {name: tenant-db}]\n"+redisBlock+
		"clients:\n- {name: tenant-service, postgres: [tenant-db], user: tenant_user}\n- {name: auth-service, container: app, postgres: [auth-db], redis: true, user: auth_user}\n")
	t.Run("clientAuth is none unless the inventory says", func(t *testing.T) {
		if inv.Postgres.ClientAuth != model.PostgresClientAuthNone || inv.Redis.ClientAuth != model.RedisClientAuthNone {
			t.Errorf("clientAuth = %q, %q; want none, none", inv.Postgres.ClientAuth, inv.Redis.ClientAuth)
		}
	})
	t.Run("clients are sorted by name and keep the place the file gives them, for messages", func(t *testing.T) {
		var got []string
		for _, c := range inv.Clients {
			got = append(got, c.Name+" "+c.Field)
		}
		if want := []string{"auth-service clients[1]", "tenant-service clients[0]"}; !slices.Equal(got, want) {
			t.Errorf("clients %q, want %q", got, want)
		}
	})
	t.Run("without mutual TLS no client needs a certificate", func(t *testing.T) {
		if cs := inv.ClientCerts(); len(cs) != 0 {
			t.Errorf("ClientCerts() = %+v, want none", cs)
		}
	})
}

func TestClientCertsFollowClientAuth(t *testing.T) {
	redisOnly := model.Client{Name: "pos-service", Redis: true}
	clients := gen.Clients(gen.AuthService, gen.TenantService, redisOnly)
	tests := []struct {
		name string
		pg   model.PostgresClientAuth
		r    model.RedisClientAuth
		want []string // name, files and CN of each certificate
	}{
		{name: "none and none issue nothing", pg: "none", r: "none"},
		{
			name: "postgres verify-full gives every client of a database a certificate whose CN is its user",
			pg:   "verify-full", r: "none",
			want: []string{
				"clients/auth-service clients/auth-service/client-cert.pem clients/auth-service/client-key.pem clients/auth-service/ca-cert.pem auth_user",
				"clients/tenant-service clients/tenant-service/client-cert.pem clients/tenant-service/client-key.pem clients/tenant-service/ca-cert.pem tenant_user",
			},
		},
		{
			name: "postgres cert does the same",
			pg:   "cert", r: "none",
			want: []string{
				"clients/auth-service clients/auth-service/client-cert.pem clients/auth-service/client-key.pem clients/auth-service/ca-cert.pem auth_user",
				"clients/tenant-service clients/tenant-service/client-cert.pem clients/tenant-service/client-key.pem clients/tenant-service/ca-cert.pem tenant_user",
			},
		},
		{
			name: "redis required gives the Redis's clients a certificate, a Redis-only client's CN is its name, and the probes one of their own",
			pg:   "none", r: "required",
			want: []string{
				"clients/auth-service clients/auth-service/client-cert.pem clients/auth-service/client-key.pem clients/auth-service/ca-cert.pem auth_user",
				"clients/pos-service clients/pos-service/client-cert.pem clients/pos-service/client-key.pem clients/pos-service/ca-cert.pem pos-service",
				"redis/probe redis/probe/client-cert.pem redis/probe/client-key.pem redis/probe/ca-cert.pem tlsgen-redis-probe",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := gen.Inventory(clients, gen.ClientAuth(tt.pg, tt.r))
			var got []string
			for _, c := range inv.ClientCerts() {
				got = append(got, c.Name+" "+c.CertFile+" "+c.KeyFile+" "+c.CAFile+" "+c.CommonName)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ClientCerts():\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
