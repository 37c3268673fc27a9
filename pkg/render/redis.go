package render

import (
	"path"
	"strings"

	"github.com/bakery-ia/tlsgen/pkg/model"
)

// redis renders the Redis: its Secret and the patch of its Deployment,
// which replaces the container's command line.
func (r *renderer) redis(s model.Server) error {
	rd := r.in.Inventory.Redis
	sum, err := r.serverSecret(s)
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
		"--tls-auth-clients", "no",
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
				"livenessProbe":  redisProbe(),
				"readinessProbe": redisProbe(),
			}},
			"volumes": []any{map[string]any{"name": redisVolume, "secret": map[string]any{"secretName": s.SecretName}}},
		},
	})
	return nil
}

// RedisProbeScript asks the server for PONG over TLS (W8): with --port 0 a
// plaintext probe fails, and redis-cli exits 0 even on NOAUTH, so the reply
// itself is checked. The password goes through REDISCLI_AUTH, not argv.
const RedisProbeScript = `REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli --tls --cacert ` + tlsDir + `/ca-cert.pem -h localhost -p ` + model.RedisPort + ` ping | grep -q PONG`

func redisProbe() map[string]any {
	return map[string]any{
		"exec": map[string]any{"command": []string{"sh", "-c", RedisProbeScript}},
		// null deletes the base's handler in a strategic merge: a probe
		// may have one handler only.
		"tcpSocket":      nil,
		"httpGet":        nil,
		"grpc":           nil,
		"timeoutSeconds": 5,
	}
}
