package boltstore

import (
	"io/fs"
)

// bare returns the cause of a *fs.PathError, whose text would name the
// path a second time inside a driver.OpError; other errors are returned
// as they are. The cause still matches fs.ErrNotExist, fs.ErrPermission
// and the like.
func bare(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
