package model

import "path"

// ServerKind is a kind of server tlsgen puts on TLS.
type ServerKind string

// The kinds of server.
const (
	PostgresKind ServerKind = "postgres"
	RedisKind    ServerKind = "redis"
)

// What differs between the kinds, in one table: the port the rendered
// server listens on (R5, R8) and the names of its certificate and key, the
// same in the PKI directory (R4) and in its Secret (R7).
var kinds = map[ServerKind]struct{ port, certFile, keyFile string }{
	PostgresKind: {PostgresPort, "server-cert.pem", "server-key.pem"},
	RedisKind:    {RedisPort, "redis-cert.pem", "redis-key.pem"},
}

// CAFile is the CA certificate's name beside every server certificate, in
// the PKI directory and in each Secret.
const CAFile = "ca-cert.pem"

// Server is one Deployment tlsgen puts on TLS, with everything every layer
// needs to know of it: render patches it, pki issues its certificate,
// verify probes it.
type Server struct {
	Kind ServerKind
	// Name is the Deployment's.
	Name string
	// Container is the container to patch as the inventory states it, or
	// "" to read it from the base (render.CheckBase): the Deployment's only
	// container, else the one its kubectl.kubernetes.io/default-container
	// annotation names, else the one named DefaultContainer.
	// ContainerField is where the inventory would state it, for messages.
	Container, DefaultContainer, ContainerField string
	// Service is the Service clients reach it by, FQDN its fully qualified
	// name (the name verify dials and checks), Port the port it listens on.
	Service, FQDN, Port string
	// SecretName is the Secret that ships its certificate.
	SecretName string
	// Cert names its certificate: the certificate's directory in the PKI
	// directory ("postgres", "postgres/auth-db", "redis"). Servers in shared
	// mode have the same Cert, CommonName and DNSNames.
	Cert string
	// CertFile and KeyFile are the file names of the certificate and key,
	// in the PKI directory and in the Secret.
	CertFile, KeyFile string
	// CommonName and DNSNames are what the certificate says.
	CommonName string
	DNSNames   []string
}

// Servers lists the servers of the inventory: the databases in the
// inventory's order, then the Redis.
func (inv *Inventory) Servers() []Server {
	var out []Server
	if pg := inv.Postgres; pg != nil {
		shared := inv.sharedNames()
		for _, db := range pg.Databases {
			s := inv.server(PostgresKind, db.Name, pg.Container, "postgres.container", db.Service, db.SecretName)
			s.DefaultContainer = DefaultContainer
			if pg.Certificates == PerDatabase {
				s.Cert = path.Join("postgres", db.Name)
			} else {
				s.Cert, s.CommonName, s.DNSNames = "postgres", inv.wildcard(), shared
			}
			out = append(out, s)
		}
	}
	if r := inv.Redis; r != nil {
		s := inv.server(RedisKind, r.Name, r.Container, "redis.container", r.Service, r.SecretName)
		s.DefaultContainer = r.Name
		s.Cert = "redis"
		out = append(out, s)
	}
	return out
}

// server fills in what every kind has: its Service's names, and its files.
func (inv *Inventory) server(k ServerKind, name, container, containerField, service, secret string) Server {
	return Server{
		Kind: k, Name: name, Container: container, ContainerField: containerField,
		Service: service, FQDN: inv.ServiceFQDN(service), Port: kinds[k].port, SecretName: secret,
		CertFile: kinds[k].certFile, KeyFile: kinds[k].keyFile,
		CommonName: inv.ServiceFQDN(service),
		DNSNames:   append(inv.ServiceNames(service), "localhost"),
	}
}

func (inv *Inventory) wildcard() string {
	return "*." + inv.Namespace + ".svc." + inv.ClusterDomain
}

// sharedNames lists the names of the shared PostgreSQL certificate: the
// guide's wildcard and localhost (R3), and every name of every database's
// Service, since the wildcard covers one label only (W3).
func (inv *Inventory) sharedNames() []string {
	names := []string{inv.wildcard()}
	for _, db := range inv.Postgres.Databases {
		names = append(names, inv.ServiceNames(db.Service)...)
	}
	return append(names, "localhost")
}
