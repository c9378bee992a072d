package slashprotect_test

// runChild runs a child-process role when the test binary was re-executed by
// a multi-process test, and reports whether it did.
func runChild() bool { return false }
