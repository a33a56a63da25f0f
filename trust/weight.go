package trust

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Weight is a trust weight in [0, 1], held exactly as an integer number of
// millionths so that products are deterministic on every platform (the hub's
// state machine depends on them) and print back exactly as they were written.
type Weight uint32

// Scale is the number of Weight units in 1.0.
const Scale = 1_000_000

// Bounds of a weight.
const (
	Zero Weight = 0
	One  Weight = Scale
)

// ErrWeight reports a weight that is not a decimal in [0, 1] with at most six places.
var ErrWeight = errors.New("trust weight must be a decimal in [0, 1] with at most 6 places")

// ParseWeight parses a decimal such as "0.8", "1" or "0.336".
func ParseWeight(s string) (Weight, error) {
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || len(s) > 8 || (hasDot && (frac == "" || len(frac) > 6)) ||
		!digits(intPart) || !digits(frac) {
		return 0, fmt.Errorf("%w: %q", ErrWeight, s)
	}
	for len(frac) < 6 {
		frac += "0"
	}
	i, _ := strconv.Atoi(intPart)
	f, _ := strconv.Atoi(frac)
	w := i*Scale + f
	if w > Scale {
		return 0, fmt.Errorf("%w: %q", ErrWeight, s)
	}
	return Weight(w), nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Mul returns w×v, rounded down to a millionth.
func (w Weight) Mul(v Weight) Weight { return Weight(uint64(w) * uint64(v) / Scale) }

// Valid reports whether w is within [0, 1].
func (w Weight) Valid() bool { return w <= One }

// String formats w with as few decimals as it needs ("0.8", "1", "0.336").
func (w Weight) String() string {
	s := fmt.Sprintf("%d.%06d", w/Scale, w%Scale)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
