package finicity_test

import (
	"testing"

	"github.com/hookline/hookline/adapters/adaptertest"
)

// BenchmarkVerifyNormalize: `added` is a large Connect event with two
// accounts, `done` the smallest one. See adaptertest.BenchmarkVerifyNormalize
// and BENCHMARKS.md.
func BenchmarkVerifyNormalize(b *testing.B) {
	adaptertest.BenchmarkVerifyNormalize(b, suite(), "added", "done")
}
