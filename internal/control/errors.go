package control

import (
	"errors"

	"github.com/memostore/memostore/store/driver"
)

// wireError is an error as the endpoint sends it: its text, and the code
// of the sentinel error it wraps, if any.
type wireError struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

// sentinels are the errors that keep their identity across the socket,
// by code: errors.Is(err, driver.ErrLocked) holds on the client for an
// error that wrapped ErrLocked on the server, as net/rpc's ServerError or
// a gRPC status code is mapped back.
var sentinels = []struct {
	code string
	err  error
}{
	{"locked", driver.ErrLocked},
	{"closed", driver.ErrClosed},
	{"corrupt", driver.ErrCorrupt},
	{"unavailable", driver.ErrUnavailable},
	{"unsupported", driver.ErrUnsupported},
}

// codeOf returns the code of the sentinel err wraps, or "".
func codeOf(err error) string {
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.code
		}
	}
	return ""
}

// err returns the error e describes: its text, wrapping the sentinel its
// code names.
func (e wireError) err() error {
	for _, s := range sentinels {
		if s.code == e.Code {
			return &remoteError{msg: e.Error, sentinel: s.err}
		}
	}
	return errors.New(e.Error)
}

// A remoteError is an error that came back from the endpoint, with the
// sentinel it wrapped there.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }
