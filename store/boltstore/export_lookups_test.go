package boltstore

// lookupsNoted is the lookups the eviction policy of sh's store
// has counted (its climber's sample), while sh holds the file; -1 if it
// does not, or has no policy.
func lookupsNoted(sh *Shared) int64 {
	st, _, _ := sh.current()
	if st == nil || st.pol == nil {
		return -1
	}
	return st.pol.climb.lookups.Load()
}

// LookupsNoted exports lookupsNoted to package
// boltstore_test, whose tests drive memo.
var LookupsNoted = lookupsNoted
