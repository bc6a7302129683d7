package config

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
)

// ByteSize is an amount of memory or disk, written in the file as "64MiB",
// "512KiB", "1GiB" (or MB, KB, GB, powers of 1000) or a whole number of
// bytes.
type ByteSize int64

var (
	byteSizeType = reflect.TypeFor[ByteSize]()
	byteSizeRE   = regexp.MustCompile(`^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$`)
)

var byteUnits = map[string]float64{
	"": 1, "B": 1,
	"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}

// ParseByteSize reads "64MiB", "1.5GB" or "1048576".
func ParseByteSize(s string) (ByteSize, error) {
	m := byteSizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size such as \"64MiB\"", s)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size such as \"64MiB\": %w", s, err)
	}
	n := f * byteUnits[m[2]]
	if n >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return ByteSize(n), nil
}

// String writes the size the way an admin would: "64MiB", "1GiB", or bytes.
func (b ByteSize) String() string {
	for _, u := range []string{"TiB", "GiB", "MiB", "KiB"} {
		if n := int64(byteUnits[u]); b != 0 && int64(b)%n == 0 {
			return strconv.FormatInt(int64(b)/n, 10) + u
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

const byteSizeFix = "write a size with a unit, such as \"64MiB\", \"512KiB\" or \"1GiB\""

func byteSizeExpected() string { return "a size such as \"64MiB\"" }
