package render

import (
	"fmt"
	"path"
	"strings"

	"github.com/bakery-ia/tlsgen/pkg/model"
)

// Where a client pod finds the CA bundle and its own certificate.
const (
	CABundleDir    = "/etc/tls-ca"
	ClientTLSDir   = "/etc/tls-client"
	caBundleVolume = "tls-ca-bundle"
	clientVolume   = "tls-client-cert"
)

// ClientKeyMode is the mode of the files of a client's Secret volume:
// readable by root, which owns them, and by the pod's fsGroup, which the
// kubelet gives them (adding 0440 to a read-only volume's files). libpq
// refuses a key that is not 0600 or less unless root owns it with 0640
// or less (fe-secure-openssl.c, "private key file has group or world
// access"), and a Secret volume's files are always root's: so a client
// running as root reads the key as its owner, a non-root one through its
// fsGroup, and libpq accepts it for both. psycopg uses libpq; pgx, asyncpg
// and the Redis clients check no mode.
const ClientKeyMode = 0o440

// The environment a client container gets. libpq, psycopg, pgx and
// asyncpg read the PG* variables
// (https://www.postgresql.org/docs/current/libpq-envars.html). Redis
// clients read none: the REDIS_TLS_* names follow the guide's
// REDIS_TLS_ENABLED, and the README shows each driver's setting.
const (
	EnvPGSSLMode        = "PGSSLMODE"
	EnvPGSSLRootCert    = "PGSSLROOTCERT"
	EnvPGSSLCert        = "PGSSLCERT"
	EnvPGSSLKey         = "PGSSLKEY"
	EnvRedisTLSCAFile   = "REDIS_TLS_CA_FILE"
	EnvRedisTLSCertFile = "REDIS_TLS_CERT_FILE"
	EnvRedisTLSKeyFile  = "REDIS_TLS_KEY_FILE"
)

// clientContainer is the container to patch in c's Deployment.
func (r *renderer) clientContainer(c model.Client) string {
	if name, ok := r.in.Containers[c.Name]; ok {
		return name
	}
	if c.Container != "" {
		return c.Container
	}
	return c.Name
}

// ClientEnv is the environment tlsgen sets in c's container, in order.
func ClientEnv(inv *model.Inventory, c model.Client) [][2]string {
	_, hasCert := inv.ClientCertOf(c)
	ca := path.Join(CABundleDir, model.CAFile)
	var env [][2]string
	if len(c.Postgres) > 0 {
		env = append(env, [2]string{EnvPGSSLMode, "verify-full"}, [2]string{EnvPGSSLRootCert, ca})
		if hasCert && inv.PostgresClientAuth() != model.PostgresClientAuthNone {
			env = append(env, [2]string{EnvPGSSLCert, path.Join(ClientTLSDir, model.TLSCertKey)}, [2]string{EnvPGSSLKey, path.Join(ClientTLSDir, model.TLSKeyKey)})
		}
	}
	if c.Redis {
		env = append(env, [2]string{EnvRedisTLSCAFile, ca})
		if hasCert && inv.RedisRequiresCerts() {
			env = append(env, [2]string{EnvRedisTLSCertFile, path.Join(ClientTLSDir, model.TLSCertKey)}, [2]string{EnvRedisTLSKeyFile, path.Join(ClientTLSDir, model.TLSKeyKey)})
		}
	}
	return env
}

// client renders one client: its certificate's Secret when a server asks
// for one, and the patch that mounts the CA bundle (and the Secret) and
// sets the environment the drivers read. The checksum covers the CA and
// the client's own certificate only: a renewed server certificate rolls
// no client, and a renewed client certificate rolls that client alone.
func (r *renderer) client(c model.Client) error {
	inv := r.in.Inventory
	mounts := []any{map[string]any{"name": caBundleVolume, "mountPath": CABundleDir, "readOnly": true}}
	volumes := []any{map[string]any{"name": caBundleVolume, "configMap": map[string]any{"name": CABundleName}}}
	files := []shipped{}
	if cc, ok := inv.ClientCertOf(c); ok {
		cert, ok := r.in.PKI.Certs[cc.Name]
		if !ok {
			return fmt.Errorf("client %q: no certificate %s in the PKI state", c.Name, cc.Name)
		}
		files = append(files, shipped{certFile: model.TLSCertKey, keyFile: model.TLSKeyKey, cert: cert})
		name := model.ClientSecretName(c.Name)
		sum := secretChecksum(files, r.in.PKI.CAPEM, model.TLSCAKey)
		r.addSecret(name, "kubernetes.io/tls", files, r.in.PKI.CAPEM, model.TLSCAKey, describe(cert.Cert, sum))
		mounts = append(mounts, map[string]any{"name": clientVolume, "mountPath": ClientTLSDir, "readOnly": true})
		volumes = append(volumes, map[string]any{"name": clientVolume, "secret": map[string]any{"secretName": name, "defaultMode": ClientKeyMode}})
	}
	var env []any
	var lines []string
	for _, e := range ClientEnv(inv, c) {
		// valueFrom: null drops a valueFrom the base sets for the same
		// name: a variable with both is refused by the API server.
		env = append(env, map[string]any{"name": e[0], "value": e[1], "valueFrom": nil})
		lines = append(lines, e[0]+"="+e[1])
	}
	sum := podChecksum(secretChecksum(files, r.in.PKI.CAPEM, model.TLSCAKey), map[string]string{"env": strings.Join(lines, "\n")})
	r.patch(c.Name, map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{ChecksumKey: sum}},
		"spec": map[string]any{
			"containers": []any{map[string]any{
				"name":         r.clientContainer(c),
				"env":          env,
				"volumeMounts": mounts,
			}},
			"volumes": volumes,
		},
	})
	return nil
}
