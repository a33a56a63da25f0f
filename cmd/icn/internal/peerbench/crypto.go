package peerbench

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icn-coop/icn/identity"
)

// Ed25519Rates are this machine's Ed25519 rates through the identity
// package (what the nodes use), over a payment-intent-sized message.
type Ed25519Rates struct {
	Workers        int     `json:"workers"` // goroutines of the parallel measurement (the CPUs)
	VerifyPerS     float64 `json:"verify_per_s"`
	SignPerS       float64 `json:"sign_per_s"`
	VerifyPerS1    float64 `json:"verify_per_s_1core"`
	SignPerS1      float64 `json:"sign_per_s_1core"`
	VerifyUs1      float64 `json:"verify_us"` // one verification on one core
	SignUs1        float64 `json:"sign_us"`
	MessageBytes   int     `json:"message_bytes"`
	DurationPerRun float64 `json:"duration_per_run_s"`
}

// MeasureEd25519 measures sign and verify rates, each for d on one
// goroutine and then for d on workers goroutines at once (all cores).
// Keys rotate among 16, as on a node that verifies many members (the
// identity package caches their expanded public keys).
func MeasureEd25519(ctx context.Context, d time.Duration, workers int) (Ed25519Rates, error) {
	const nkeys = 16
	msg := make([]byte, 280) // about a signed payment intent
	if _, err := rand.Read(msg); err != nil {
		return Ed25519Rates{}, err
	}
	keys := make([]*identity.Key, nkeys)
	sigs := make([][]byte, nkeys)
	for i := range keys {
		k, err := identity.GenerateKey(rand.Reader)
		if err != nil {
			return Ed25519Rates{}, err
		}
		keys[i], sigs[i] = k, k.Sign(identity.TagPaymentIntent, msg)
		if err := identity.Verify(k.Public(), identity.TagPaymentIntent, msg, sigs[i]); err != nil {
			return Ed25519Rates{}, fmt.Errorf("ed25519: %w", err)
		}
	}
	verify := func(i int) bool {
		return identity.Verify(keys[i%nkeys].Public(), identity.TagPaymentIntent, msg, sigs[i%nkeys]) == nil
	}
	sign := func(i int) bool { return len(keys[i%nkeys].Sign(identity.TagPaymentIntent, msg)) == 64 }
	r := Ed25519Rates{Workers: workers, MessageBytes: len(msg), DurationPerRun: d.Seconds()}
	var err error
	if r.VerifyPerS1, err = rate(ctx, d, 1, verify); err != nil {
		return r, err
	}
	if r.SignPerS1, err = rate(ctx, d, 1, sign); err != nil {
		return r, err
	}
	if r.VerifyPerS, err = rate(ctx, d, workers, verify); err != nil {
		return r, err
	}
	if r.SignPerS, err = rate(ctx, d, workers, sign); err != nil {
		return r, err
	}
	r.VerifyUs1, r.SignUs1 = 1e6/r.VerifyPerS1, 1e6/r.SignPerS1
	return r, nil
}

// rate runs op on workers goroutines for d and returns operations per second.
func rate(ctx context.Context, d time.Duration, workers int, op func(int) bool) (float64, error) {
	var n atomic.Int64
	var bad atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local int64
			for i := w; ; i++ {
				if i%64 == 0 {
					select {
					case <-stop:
						n.Add(local)
						return
					default:
					}
				}
				if !op(i) {
					bad.Store(true)
				}
				local++
			}
		}()
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if bad.Load() {
		return 0, fmt.Errorf("ed25519: an operation failed")
	}
	return float64(n.Load()) / elapsed.Seconds(), nil
}

// CryptoLimit is the payments per second this machine could reach if it
// did nothing but the Ed25519 work of each payment (verifications and
// signatures, at the all-core rates of r).
func CryptoLimit(r Ed25519Rates, verifications, signatures float64) float64 {
	if r.VerifyPerS <= 0 || r.SignPerS <= 0 {
		return 0
	}
	perPayment := verifications/r.VerifyPerS + signatures/r.SignPerS // seconds of the whole machine
	if perPayment <= 0 {
		return 0
	}
	return 1 / perPayment
}
