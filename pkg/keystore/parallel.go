package keystore

import (
	"context"
	"runtime"
	"sync"
)

// Progress is told how many of total items are done. Parallel helpers call it
// from one goroutine at a time, after each item.
type Progress func(done, total int)

// DecryptJob is one keystore to decrypt with its password.
type DecryptJob struct {
	Keystore *Keystore
	Password string
}

// DecryptAll decrypts keystores on workers goroutines (GOMAXPROCS when
// workers ≤ 0), because scrypt makes each one cost about a second. The
// results are aligned with jobs: keys[i] is nil exactly when errs[i] is not.
func DecryptAll(ctx context.Context, jobs []DecryptJob, workers int, progress Progress) ([]*Key, []error) {
	keys := make([]*Key, len(jobs))
	errs := forEach(ctx, len(jobs), workers, progress, func(i int) error {
		k, err := jobs[i].Keystore.Decrypt(jobs[i].Password)
		keys[i] = k
		return err
	})
	return keys, errs
}

// EncryptAll encrypts keys into EIP-2335 keystores on workers goroutines
// (GOMAXPROCS when workers ≤ 0), all with the same password and parameters.
// The results are aligned with keys.
func EncryptAll(ctx context.Context, keys []*Key, password string, params EncryptParams, workers int, progress Progress) ([]*Keystore, []error) {
	out := make([]*Keystore, len(keys))
	errs := forEach(ctx, len(keys), workers, progress, func(i int) error {
		ks, err := Encrypt(keys[i], password, params)
		out[i] = ks
		return err
	})
	return out, errs
}

// forEach runs fn(0..n-1) on a bounded pool and returns the errors aligned
// with the indices; items not started when ctx ends get ctx's error.
func forEach(ctx context.Context, n, workers int, progress Progress, fn func(i int) error) []error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, n)
	errs := make([]error, n)
	next := make(chan int)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done int
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := ctx.Err(); err != nil {
					errs[i] = err
				} else {
					errs[i] = fn(i)
				}
				mu.Lock()
				done++
				if progress != nil {
					progress(done, n)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}
