package swyft_test

import (
	"testing"

	"github.com/hookline/hookline/adapters/adaptertest"
)

// BenchmarkVerifyNormalize: see adaptertest.BenchmarkVerifyNormalize and
// BENCHMARKS.md.
func BenchmarkVerifyNormalize(b *testing.B) {
	adaptertest.BenchmarkVerifyNormalize(b, suite, "order_status_change_top_level", "order_status_change_data_order")
}
