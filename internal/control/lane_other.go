//go:build !linux && !darwin && !freebsd

package control

import (
	"errors"
	"net"
	"time"
)

// Without peer credentials there is no control endpoint (see
// peerCredentials), and no lanes: every request takes the connection.

const lanesSupported = false

type lane struct{}

var errLaneTimeout = errors.New("control: no reply in time")

func dialLane(string, []byte) (*lane, error) { return nil, errNoPeerCredentials }

func (*lane) roundTrip(*Msg, time.Duration) (*Msg, error) { return nil, errNoPeerCredentials }
func (*lane) kill()                                       {}
func (*lane) close()                                      {}

const maxBlockingLanes = 0

func detachLane(net.Conn) (*lane, error) { return nil, errNoPeerCredentials }

func (*lane) send(*Msg) error              { return errNoPeerCredentials }
func (*lane) recv(time.Time) (*Msg, error) { return nil, errNoPeerCredentials }

func blockConn(net.Conn) error { return errNoPeerCredentials }
func shutdownConn(net.Conn)    {}
