package render

import (
	"fmt"
	"path"
	"strings"

	"github.com/bakery-ia/tlsgen/pkg/model"
)

// redis renders the Redis: its Secret and the patch of its Deployment,
// which replaces the container's command line.
func (r *renderer) redis(s model.Server) error {
	rd := r.in.Inventory.Redis
	// With client certificates required, the probes present one of their
	// own: the server's certificate is for serverAuth only.
	var extra []shipped
	authClients := "no"
	probe, required := r.in.Inventory.RedisProbeCert()
	if required {
		c, ok := r.in.PKI.Certs[probe.Name]
		if !ok {
			return fmt.Errorf("redis %q: no certificate %s in the PKI state", s.Name, probe.Name)
		}
		extra = append(extra, shipped{certFile: model.ProbeCertFile, keyFile: model.ProbeKeyFile, cert: c})
		authClients = "yes"
	}
	sum, err := r.serverSecret(s, extra...)
	if err != nil {
		return err
	}

	protocols := "TLSv1.2 TLSv1.3"
	if r.in.Inventory.TLS.Profile == model.Modern {
		protocols = "TLSv1.3"
	}
	ciphers, _ := r.ciphers()
	args := []string{
		"--requirepass", "$(REDIS_PASSWORD)",
		"--port", "0", // no plaintext listener
		"--tls-port", model.RedisPort,
		"--tls-cert-file", path.Join(tlsDir, s.CertFile),
		"--tls-key-file", path.Join(tlsDir, s.KeyFile),
		"--tls-ca-cert-file", path.Join(tlsDir, model.CAFile),
		"--tls-auth-clients", authClients,
		"--tls-protocols", protocols,
		"--tls-ciphers", ciphers,
		"--tls-prefer-server-ciphers", "yes",
	}
	args = append(args, rd.Args...)
	r.patch(s.Name, map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{ChecksumKey: podChecksum(sum, map[string]string{"args": strings.Join(args, "\n")})}},
		"spec": map[string]any{
			"containers": []any{map[string]any{
				"name":    r.container(s),
				"command": []string{"redis-server"},
				"args":    args,
				"env": []any{map[string]any{
					"name":      "REDIS_PASSWORD",
					"valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": rd.PasswordSecret.Name, "key": rd.PasswordSecret.Key}},
				}},
				"volumeMounts":   []any{map[string]any{"name": redisVolume, "mountPath": tlsDir, "readOnly": true}},
				"livenessProbe":  redisProbe(required),
				"readinessProbe": redisProbe(required),
			}},
			"volumes": []any{map[string]any{"name": redisVolume, "secret": map[string]any{"secretName": s.SecretName}}},
		},
	})
	return nil
}

// redisProbeScript asks the server for PONG over TLS (W8): with --port 0 a
// plaintext probe fails, and redis-cli exits 0 even on NOAUTH, so the reply
// itself is checked. The password goes through REDISCLI_AUTH, not argv.
// With --tls-auth-clients yes the probe presents the probe certificate.
func redisProbeScript(withCert bool) string {
	cert := ""
	if withCert {
		cert = " --cert " + path.Join(tlsDir, model.ProbeCertFile) + " --key " + path.Join(tlsDir, model.ProbeKeyFile)
	}
	return `REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli --tls --cacert ` + path.Join(tlsDir, model.CAFile) + cert + ` -h localhost -p ` + model.RedisPort + ` ping | grep -q PONG`
}

func redisProbe(withCert bool) map[string]any {
	return map[string]any{
		"exec": map[string]any{"command": []string{"sh", "-c", redisProbeScript(withCert)}},
		// null deletes the base's handler in a strategic merge: a probe
		// may have one handler only.
		"tcpSocket":      nil,
		"httpGet":        nil,
		"grpc":           nil,
		"timeoutSeconds": 5,
	}
}
