package model

import "path"

// The files of a client certificate: its certificate and key in the PKI
// directory (clients/<name>/, beside ca-cert.pem), and the keys of the
// kubernetes.io/tls Secret that ships them, with the CA as ca.crt (the
// names cert-manager gives them).
const (
	ClientCertFile = "client-cert.pem"
	ClientKeyFile  = "client-key.pem"
	TLSCertKey     = "tls.crt"
	TLSKeyKey      = "tls.key"
	TLSCAKey       = "ca.crt"
)

// The Redis's own probes present a certificate when Redis requires one:
// these are its files in the Redis's Secret, beside the server's.
const (
	ProbeCertFile = "probe-cert.pem"
	ProbeKeyFile  = "probe-key.pem"
)

// ProbeCommonName is the CN of the Redis probe's certificate: Redis reads
// no CN, and a fixed one stays within RFC 5280's 64 characters whatever the
// Redis is called.
const ProbeCommonName = "tlsgen-redis-probe"

// ClientSecretName is the Secret that ships a client's certificate.
func ClientSecretName(client string) string { return client + "-client-tls" }

// ClientCert is a client certificate tlsgen issues: one per client that a
// server it connects to asks a certificate of, and one for the Redis's own
// probes when Redis requires client certificates.
type ClientCert struct {
	// Name names it in the PKI state and in messages: "clients/auth-service",
	// or "redis/probe".
	Name string
	// CertFile and KeyFile are its paths in the PKI directory; CAFile is
	// the CA beside them, or "" when the directory has one already.
	CertFile, KeyFile, CAFile string
	// CommonName is the identity it proves: the client's database user.
	CommonName string
}

// PostgresClientAuth returns how PostgreSQL authenticates clients: none
// when there is no postgres block.
func (inv *Inventory) PostgresClientAuth() PostgresClientAuth {
	if inv.Postgres == nil {
		return PostgresClientAuthNone
	}
	return inv.Postgres.ClientAuth
}

// RedisRequiresCerts reports whether the Redis requires client certificates.
func (inv *Inventory) RedisRequiresCerts() bool {
	return inv.Redis != nil && inv.Redis.ClientAuth == RedisClientAuthRequired
}

// NeedsCert reports whether a server c connects to asks c for a
// certificate.
func (inv *Inventory) NeedsCert(c Client) bool {
	return (len(c.Postgres) > 0 && inv.PostgresClientAuth() != PostgresClientAuthNone) ||
		(c.Redis && inv.RedisRequiresCerts())
}

// ClientCertOf returns c's certificate, and false when no server c
// connects to asks for one.
func (inv *Inventory) ClientCertOf(c Client) (ClientCert, bool) {
	if !inv.NeedsCert(c) {
		return ClientCert{}, false
	}
	dir := path.Join("clients", c.Name)
	cn := c.User
	if cn == "" { // a Redis-only client: Redis does not read the CN
		cn = c.Name
	}
	return ClientCert{
		Name:     dir,
		CertFile: path.Join(dir, ClientCertFile), KeyFile: path.Join(dir, ClientKeyFile), CAFile: path.Join(dir, CAFile),
		CommonName: cn,
	}, true
}

// RedisProbeCert returns the certificate the Redis's probes present, and
// false when Redis does not require one. It has a directory of its own,
// redis/probe/, so that it is stale, and pruned, once Redis stops asking.
func (inv *Inventory) RedisProbeCert() (ClientCert, bool) {
	if !inv.RedisRequiresCerts() {
		return ClientCert{}, false
	}
	const dir = "redis/probe"
	return ClientCert{
		Name:     dir,
		CertFile: path.Join(dir, ClientCertFile), KeyFile: path.Join(dir, ClientKeyFile), CAFile: path.Join(dir, CAFile),
		CommonName: ProbeCommonName,
	}, true
}

// ClientCerts lists every client certificate the inventory asks for: the
// clients' in their (sorted) order, then the Redis probe's.
func (inv *Inventory) ClientCerts() []ClientCert {
	var out []ClientCert
	for _, c := range inv.Clients {
		if cc, ok := inv.ClientCertOf(c); ok {
			out = append(out, cc)
		}
	}
	if cc, ok := inv.RedisProbeCert(); ok {
		out = append(out, cc)
	}
	return out
}

// Client returns the client named name.
func (inv *Inventory) Client(name string) (Client, bool) {
	for _, c := range inv.Clients {
		if c.Name == name {
			return c, true
		}
	}
	return Client{}, false
}
