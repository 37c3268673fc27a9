// Package model holds the inventory: its types, strict parsing, defaults and
// validation. It performs no IO and reads no clock: Parse takes the file's
// name and bytes, and the name is only used in messages.
package model

// APIVersion and Kind identify an inventory file.
const (
	APIVersion = "tlsgen/v1alpha1"
	Kind       = "Inventory"
)

// Inventory is one namespace's PostgreSQL databases and Redis, and how their
// TLS is to be set up. The JSON names are the file's field names.
type Inventory struct {
	APIVersion    string    `json:"apiVersion"`
	Kind          string    `json:"kind"`
	Namespace     string    `json:"namespace"`
	ClusterDomain string    `json:"clusterDomain,omitempty"`
	Base          string    `json:"base"`
	PKI           PKI       `json:"pki"`
	TLS           TLS       `json:"tls"`
	Postgres      *Postgres `json:"postgres,omitempty"`
	Redis         *Redis    `json:"redis,omitempty"`
	// Encryption, when given, keeps every private key tlsgen writes
	// encrypted: the overlay's Secrets as SOPS documents, the PKI
	// directory's keys as age files.
	Encryption *Encryption `json:"encryption,omitempty"`
	// Clients are the Deployments that connect to the servers: each is
	// patched to verify them, and given a client certificate when a server
	// it uses asks for one.
	Clients []Client `json:"clients,omitempty"`
}

// Encryption lists who can decrypt the private keys tlsgen writes.
type Encryption struct {
	// Age are age recipients (age1...): the team's keys and the cluster's
	// Flux key.
	Age []string `json:"age"`
}

// PKI says where the CA and certificates live and how they are made.
type PKI struct {
	Dir    string `json:"dir,omitempty"`
	CA     CA     `json:"ca"`
	Server Certs  `json:"server"`
}

// CA describes the private certificate authority.
type CA struct {
	CommonName string   `json:"commonName,omitempty"`
	Key        KeyType  `json:"key,omitempty"`
	Validity   Duration `json:"validity"`
}

// Certs describes every server certificate tlsgen issues.
type Certs struct {
	Key         KeyType  `json:"key,omitempty"`
	Validity    Duration `json:"validity"`
	RenewBefore Duration `json:"renewBefore"`
}

// KeyType names a key algorithm and size, as written in the inventory.
type KeyType string

// The key types tlsgen issues.
const (
	RSA2048   KeyType = "rsa-2048"
	RSA3072   KeyType = "rsa-3072"
	RSA4096   KeyType = "rsa-4096"
	ECDSAP256 KeyType = "ecdsa-p256"
	ECDSAP384 KeyType = "ecdsa-p384"
)

// KeyTypes lists the supported key types in the order messages show them.
var KeyTypes = []KeyType{RSA2048, RSA3072, RSA4096, ECDSAP256, ECDSAP384}

// TLS holds the protocol settings shared by PostgreSQL and Redis.
type TLS struct {
	Profile Profile `json:"profile,omitempty"`
	// Ciphers overrides the profile's TLS 1.2 cipher list (OpenSSL syntax).
	Ciphers string `json:"ciphers,omitempty"`
}

// Profile is a Mozilla server-side TLS profile.
type Profile string

// The supported profiles, after https://wiki.mozilla.org/Security/Server_Side_TLS.
const (
	Intermediate Profile = "intermediate"
	Modern       Profile = "modern"
)

// Certificates says whether the databases share one certificate or each has its own.
type Certificates string

// The certificate modes.
const (
	Shared      Certificates = "shared"
	PerDatabase Certificates = "perDatabase"
)

// Postgres describes the PostgreSQL Deployments to patch.
type Postgres struct {
	Image         string       `json:"image,omitempty"`
	Container     string       `json:"container,omitempty"`
	UID           *int64       `json:"uid,omitempty"`
	InitImage     string       `json:"initImage,omitempty"`
	Certificates  Certificates `json:"certificates,omitempty"`
	SecretName    string       `json:"secretName,omitempty"`
	ConfigMapName string       `json:"configMapName,omitempty"`
	// ClientAuth says whether pg_hba.conf asks clients for a certificate.
	ClientAuth PostgresClientAuth `json:"clientAuth,omitempty"`
	Databases  []Database         `json:"databases"`
}

// PostgresClientAuth is how PostgreSQL authenticates a client over TLS.
type PostgresClientAuth string

// The PostgreSQL client authentication modes: the password alone; the
// password and a certificate whose CN is the user (clientcert=verify-full);
// the certificate alone (the cert method).
// https://www.postgresql.org/docs/current/auth-cert.html
const (
	PostgresClientAuthNone       PostgresClientAuth = "none"
	PostgresClientAuthVerifyFull PostgresClientAuth = "verify-full"
	PostgresClientAuthCert       PostgresClientAuth = "cert"
)

// Database is one PostgreSQL Deployment and its Service.
type Database struct {
	Name    string `json:"name"`
	Service string `json:"service,omitempty"`
	// SecretName is set by defaulting: the shared Secret, or <name>-tls.
	SecretName string `json:"-"`
}

// Redis describes the Redis Deployment to patch.
type Redis struct {
	Name           string       `json:"name,omitempty"`
	Service        string       `json:"service,omitempty"`
	Container      string       `json:"container,omitempty"`
	SecretName     string       `json:"secretName,omitempty"`
	PasswordSecret SecretKeyRef `json:"passwordSecret"`
	// Args are further redis-server arguments (e.g. --appendonly yes):
	// the patch replaces the container's command and args, so whatever the
	// base passed must be stated here to be kept.
	Args []string `json:"args,omitempty"`
	// ClientAuth says whether Redis asks clients for a certificate
	// (--tls-auth-clients).
	ClientAuth RedisClientAuth `json:"clientAuth,omitempty"`
}

// RedisClientAuth is whether Redis requires a client certificate.
type RedisClientAuth string

// The Redis client authentication modes: the password alone, or a
// certificate signed by the CA as well (--tls-auth-clients yes).
const (
	RedisClientAuthNone     RedisClientAuth = "none"
	RedisClientAuthRequired RedisClientAuth = "required"
)

// Client is a Deployment that connects to the inventory's servers.
type Client struct {
	// Name is the Deployment's.
	Name string `json:"name"`
	// Container is the container to patch, or "" to read it from the base
	// as for the servers, where the default name is the Deployment's.
	Container string `json:"container,omitempty"`
	// Postgres names the databases it connects to.
	Postgres []string `json:"postgres,omitempty"`
	// Redis says it connects to the Redis.
	Redis bool `json:"redis,omitempty"`
	// User is its database user, and the common name of its client
	// certificate: PostgreSQL's clientcert=verify-full and cert method
	// match it against the user a connection asks for.
	User string `json:"user,omitempty"`
	// Field is where the inventory lists it ("clients[3]"), for messages:
	// Parse sorts the clients by name. Set by defaulting.
	Field string `json:"-"`
}

// SecretKeyRef names one key of a Secret.
type SecretKeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// Defaults for fields the inventory may leave out.
const (
	DefaultClusterDomain = "cluster.local"
	DefaultPKIDir        = "tls"
	DefaultKey           = ECDSAP256
	DefaultCAValidity    = "10y"
	DefaultValidity      = "1y"
	DefaultRenewBefore   = "30d"
	DefaultPostgresImage = "postgres:17-alpine"
	// DefaultInitImage is pinned (W6): busybox:latest moves under a running cluster.
	DefaultInitImage = "busybox:1.37.0"
	// DefaultContainer is the PostgreSQL container's name when a
	// Deployment has several and the inventory names none (a Redis's is
	// its Deployment's name).
	DefaultContainer     = "postgres"
	DefaultSecretName    = "postgres-tls"
	DefaultConfigMapName = "postgres-tls-config"
	DefaultRedisName     = "redis"
	DefaultRedisSecret   = "redis-tls"
)

// The ports the rendered servers listen on (R5, R8); verify dials them.
const (
	PostgresPort = "5432"
	RedisPort    = "6379"
)

// Minimum returns the lowest TLS version the profile allows, in the spelling
// PostgreSQL's ssl_min_protocol_version uses.
func (p Profile) Minimum() string {
	if p == Modern {
		return "TLSv1.3"
	}
	return "TLSv1.2"
}

// ServiceFQDN returns svc.<namespace>.svc.<clusterDomain>.
func (inv *Inventory) ServiceFQDN(svc string) string {
	return svc + "." + inv.Namespace + ".svc." + inv.ClusterDomain
}

// ServiceNames lists every name a client in the cluster may use for a
// Service: the short name, with the namespace, with .svc, and fully
// qualified. A wildcard covers one label only (RFC 6125 6.4.3, and libpq
// follows it), so *.ns.svc.cluster.local matches none of the first three.
func (inv *Inventory) ServiceNames(svc string) []string {
	ns := svc + "." + inv.Namespace
	return []string{svc, ns, ns + ".svc", ns + ".svc." + inv.ClusterDomain}
}
