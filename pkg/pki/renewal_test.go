package pki_test

import (
	"testing"
	"time"

	"github.com/bakery-ia/tlsgen/pkg/pki"
)

func TestRenewalTime(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		life        time.Duration
		renewBefore time.Duration
		want        time.Time
	}{
		{"a year renewed 30 days before its end", 365 * pki.Day, 30 * pki.Day, start.Add(335 * pki.Day)},
		{"a 30-day certificate with renewBefore 90d is renewed at two thirds of its life", 30 * pki.Day, 90 * pki.Day, start.Add(20 * pki.Day)},
		{"renewBefore equal to the life is renewed at two thirds", 90 * pki.Day, 90 * pki.Day, start.Add(60 * pki.Day)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := pki.RenewalTime(start, start.Add(tc.life), tc.renewBefore); !got.Equal(tc.want) {
				t.Errorf("RenewalTime = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{80 * pki.Day: "80d", 2 * pki.Day: "2d", 36 * time.Hour: "36h", 5 * time.Minute: "5m"} {
		if got := pki.FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
