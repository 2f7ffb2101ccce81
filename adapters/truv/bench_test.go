package truv

import (
	"testing"

	"github.com/hookline/hookline/adapters/adaptertest"
)

// BenchmarkVerifyNormalize: see adaptertest.BenchmarkVerifyNormalize and
// BENCHMARKS.md.
func BenchmarkVerifyNormalize(b *testing.B) {
	adaptertest.BenchmarkVerifyNormalize(b, suite, "order-status-updated", "task-status-updated")
}
