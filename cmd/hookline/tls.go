package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// certCheckInterval is how often, at most, the listeners' certificate
// files are checked for a renewal (on a TLS handshake).
var certCheckInterval = 10 * time.Second

// certReloader hands the listeners the certificate in certFile/keyFile and
// loads it again when either file changes, so a renewed certificate is
// served without a restart. A renewal that does not load (a half-written
// file, a key that does not match) keeps the previous certificate and is
// logged.
type certReloader struct {
	certFile, keyFile string
	logger            *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // modification times of both files when cert was loaded
	checked time.Time
}

func newCertReloader(certFile, keyFile string, logger *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, logger: logger}
	stamp, err := r.stampNow()
	if err != nil {
		return nil, err
	}
	if err := r.load(stamp); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) stampNow() (string, error) {
	var stamp string
	for _, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return "", fmt.Errorf("tls: %w", err)
		}
		stamp += fi.ModTime().String() + "/" + fmt.Sprint(fi.Size()) + ";"
	}
	return stamp, nil
}

func (r *certReloader) load(stamp string) error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	r.cert, r.stamp = &c, stamp
	return nil
}

// getCertificate is tls.Config.GetCertificate.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) >= certCheckInterval {
		r.checked = now
		if stamp, err := r.stampNow(); err != nil {
			r.logger.Warn("tls_reload_failed", "error", err.Error(), "action", "serving the previous certificate")
		} else if stamp != r.stamp {
			if err := r.load(stamp); err != nil {
				r.logger.Warn("tls_reload_failed", "error", err.Error(), "action", "serving the previous certificate")
			} else {
				r.logger.Info("tls_reloaded", "cert_file", r.certFile)
			}
		}
	}
	return r.cert, nil
}

// listener wraps ln in TLS with the reloaded certificate, offering the
// application protocols protos (ALPN).
func (r *certReloader) listener(ln net.Listener, protos ...string) net.Listener {
	return tls.NewListener(ln, &tls.Config{GetCertificate: r.getCertificate, MinVersion: tls.VersionTLS12, NextProtos: protos})
}
