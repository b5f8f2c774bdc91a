//go:build !linux

package exepages

import "errors"

var errUnsupported = errors.New("exepages: Linux only")

// ReadByPage is Linux only.
func ReadByPage() error { return errUnsupported }

// Release is Linux only.
func Release() error { return errUnsupported }

// Drop is Linux only.
func Drop() error { return errUnsupported }
