package control

import "golang.org/x/sys/unix"

// peerCredentials reports whether this platform tells a Unix socket's
// server the user of the process at the other end; without that the
// control endpoint is not started (see Serve).
const peerCredentials = true

// peerUID returns the user ID of the process at the other end of the
// connected Unix socket fd (SO_PEERCRED).
func peerUID(fd uintptr) (uint32, error) {
	cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return 0, err
	}
	return cred.Uid, nil
}
