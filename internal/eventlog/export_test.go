package eventlog

// WithSharedConnection returns opts with reads on the append connection:
// the baseline of BenchmarkAppendDuringCatchUp.
func WithSharedConnection(opts Options) Options {
	opts.shareConnection = true
	return opts
}
