// Package gen builds inventories for tests, in the style of cert-manager's
// test/unit/gen: start from a small valid inventory and apply options, so a
// test states only what it is about.
package gen

import (
	"fmt"

	"github.com/bakery-ia/tlsgen/pkg/model"
	"sigs.k8s.io/yaml"
)

// Option changes an inventory before it is parsed.
type Option func(*model.Inventory)

// YAML returns the inventory file for opts: namespace bakery-ia, base
// "base", two databases (auth-db, tenant-db) in shared mode, a Redis, and
// ECDSA P-256 keys so tests issue quickly.
func YAML(opts ...Option) []byte {
	inv := &model.Inventory{
		APIVersion: model.APIVersion,
		Kind:       model.Kind,
		Namespace:  "bakery-ia",
		Base:       "base",
		PKI: model.PKI{
			CA:     model.CA{CommonName: "Test CA", Key: model.ECDSAP256, Validity: model.Duration{Text: "10y"}},
			Server: model.Certs{Key: model.ECDSAP256, Validity: model.Duration{Text: "3y"}, RenewBefore: model.Duration{Text: "90d"}},
		},
		Postgres: &model.Postgres{Databases: []model.Database{{Name: "auth-db"}, {Name: "tenant-db"}}},
		Redis:    &model.Redis{PasswordSecret: model.SecretKeyRef{Name: "bakery-ia-secrets", Key: "REDIS_PASSWORD"}},
	}
	for _, o := range opts {
		o(inv)
	}
	data, err := yaml.Marshal(inv)
	if err != nil {
		panic(err)
	}
	return data
}

// Inventory returns the parsed inventory for opts; it panics when opts make
// it invalid, which is a bug in the test.
func Inventory(opts ...Option) *model.Inventory {
	inv, err := model.Parse("inventory.yaml", YAML(opts...))
	if err != nil {
		panic(fmt.Sprintf("gen.Inventory: %v", err))
	}
	return inv
}

// Databases replaces the databases with these names.
func Databases(names ...string) Option {
	return func(inv *model.Inventory) {
		inv.Postgres.Databases = nil
		for _, n := range names {
			inv.Postgres.Databases = append(inv.Postgres.Databases, model.Database{Name: n})
		}
	}
}

// ManyDatabases replaces the databases with n of them, db-0000 and on.
func ManyDatabases(n int) Option {
	return func(inv *model.Inventory) {
		inv.Postgres.Databases = nil
		for i := range n {
			inv.Postgres.Databases = append(inv.Postgres.Databases, model.Database{Name: fmt.Sprintf("db-%04d", i)})
		}
	}
}

// PerDatabase gives every database its own certificate and Secret.
func PerDatabase() Option {
	return func(inv *model.Inventory) { inv.Postgres.Certificates = model.PerDatabase }
}

// Keys sets the CA's and the servers' key type.
func Keys(t model.KeyType) Option {
	return func(inv *model.Inventory) { inv.PKI.CA.Key, inv.PKI.Server.Key = t, t }
}

// Profile sets the TLS profile.
func Profile(p model.Profile) Option {
	return func(inv *model.Inventory) { inv.TLS.Profile = p }
}

// Validity sets the servers' validity and renewal window, e.g. "3y", "90d".
func Validity(validity, renewBefore string) Option {
	return func(inv *model.Inventory) {
		inv.PKI.Server.Validity.Text, inv.PKI.Server.RenewBefore.Text = validity, renewBefore
	}
}

// NoRedis drops the Redis block.
func NoRedis() Option { return func(inv *model.Inventory) { inv.Redis = nil } }

// UID sets the uid the PostgreSQL files are owned by.
func UID(uid int64) Option { return func(inv *model.Inventory) { inv.Postgres.UID = &uid } }

// With applies any change to the inventory.
func With(f func(*model.Inventory)) Option { return f }

// Clients sets the clients.
func Clients(cs ...model.Client) Option {
	return func(inv *model.Inventory) { inv.Clients = cs }
}

// ClientAuth sets postgres.clientAuth and, when there is a Redis,
// redis.clientAuth.
func ClientAuth(pg model.PostgresClientAuth, r model.RedisClientAuth) Option {
	return func(inv *model.Inventory) {
		if inv.Postgres != nil {
			inv.Postgres.ClientAuth = pg
		}
		if inv.Redis != nil {
			inv.Redis.ClientAuth = r
		}
	}
}

// AuthService is the client the test inventories name: auth-service, a
// Deployment of examples/base, connecting to auth-db and the Redis as
// auth_user.
var AuthService = model.Client{Name: "auth-service", Postgres: []string{"auth-db"}, Redis: true, User: "auth_user"}

// TenantService is a second client: tenant-service, to tenant-db only, as
// tenant_user.
var TenantService = model.Client{Name: "tenant-service", Postgres: []string{"tenant-db"}, User: "tenant_user"}
