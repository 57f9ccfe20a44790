package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxDepth is how deeply arrays and maps may nest in a stored key or value.
const MaxDepth = 1000

var errTruncated = errors.New("codec: truncated msgpack")

// Validate checks that b holds exactly one well-formed MessagePack value
// whose every declared length fits in the bytes that follow it, nested at
// most MaxDepth deep.
//
// Decoders run it before handing bytes to msgpack, whose decoder trusts a
// declared length and can allocate hundreds of MiB for a few malformed bytes
// (vmihailenco/msgpack#401). After Validate, decoding allocates in proportion
// to len(b).
func Validate(b []byte) error {
	// stack[i] counts the values still expected by the i-th open container;
	// the bottom entry is the one top-level value.
	stack := make([]int, 1, 8)
	stack[0] = 1
	for len(stack) > 0 {
		if stack[len(stack)-1] == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		stack[len(stack)-1]--
		if len(b) == 0 {
			return errTruncated
		}
		n, items, err := token(b)
		if err != nil {
			return err
		}
		if n > len(b) {
			return errTruncated
		}
		b = b[n:]
		if items > 0 {
			// Every item takes at least one byte: a count larger than what is
			// left is a lie, caught here before anyone allocates for it.
			if items > len(b) {
				return errTruncated
			}
			if len(stack) >= MaxDepth {
				return fmt.Errorf("codec: msgpack %w: more than %d levels", ErrTooDeep, MaxDepth-1)
			}
			stack = append(stack, items)
		}
	}
	if len(b) != 0 {
		return fmt.Errorf("codec: %d trailing bytes after msgpack value", len(b))
	}
	return nil
}

// token returns the size in bytes of the token at the start of b (its
// header and, for strings, binaries and extensions, its data), and for
// arrays and maps the number of values that follow it.
func token(b []byte) (size, items int, err error) {
	c := b[0]
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return 1, 0, nil
	case c >= 0x80 && c <= 0x8f:
		return 1, 2 * int(c&0x0f), nil
	case c >= 0x90 && c <= 0x9f:
		return 1, int(c & 0x0f), nil
	case c >= 0xa0 && c <= 0xbf:
		return 1 + int(c&0x1f), 0, nil
	}
	switch c {
	case 0xcc, 0xd0:
		return 2, 0, nil
	case 0xcd, 0xd1:
		return 3, 0, nil
	case 0xca, 0xce, 0xd2:
		return 5, 0, nil
	case 0xcb, 0xcf, 0xd3:
		return 9, 0, nil
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16
		return 2 + 1<<(c-0xd4), 0, nil
	case 0xc4, 0xd9: // bin8, str8
		n, err := length(b, 1)
		return 2 + n, 0, err
	case 0xc5, 0xda: // bin16, str16
		n, err := length(b, 2)
		return 3 + n, 0, err
	case 0xc6, 0xdb: // bin32, str32
		n, err := length(b, 4)
		return 5 + n, 0, err
	case 0xc7: // ext8: length, type, data
		n, err := length(b, 1)
		return 3 + n, 0, err
	case 0xc8:
		n, err := length(b, 2)
		return 4 + n, 0, err
	case 0xc9:
		n, err := length(b, 4)
		return 6 + n, 0, err
	case 0xdc:
		n, err := length(b, 2)
		return 3, n, err
	case 0xdd:
		n, err := length(b, 4)
		return 5, n, err
	case 0xde:
		n, err := length(b, 2)
		return 3, 2 * n, err
	case 0xdf:
		n, err := length(b, 4)
		return 5, 2 * n, err
	}
	return 0, 0, fmt.Errorf("codec: invalid msgpack code 0x%02x", c)
}

// length reads the big-endian length of width bytes that follows b[0].
func length(b []byte, width int) (int, error) {
	if len(b) < 1+width {
		return 0, errTruncated
	}
	switch width {
	case 1:
		return int(b[1]), nil
	case 2:
		return int(binary.BigEndian.Uint16(b[1:])), nil
	}
	return int(binary.BigEndian.Uint32(b[1:])), nil
}
