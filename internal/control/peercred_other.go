//go:build !linux && !darwin && !freebsd

package control

// peerCredentials reports whether this platform tells a Unix socket's
// server the user of the process at the other end. Here it does not (on
// Windows, AF_UNIX sockets carry no peer credentials), so the control
// endpoint is never started: serving it without a same-user check would
// let any local user clear or read the store.
const peerCredentials = false

// peerUID always fails here: see peerCredentials.
func peerUID(fd uintptr) (uint32, error) { return 0, errNoPeerCredentials }
