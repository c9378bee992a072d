package vaultstore

// CurrentToken exposes the token in use so tests can revoke it behind the
// store's back.
func (s *Store) CurrentToken() string { return s.currentToken() }
